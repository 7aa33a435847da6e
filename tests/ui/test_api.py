"""The UI's HTTP API over a real server on 127.0.0.1 (no browser): safety checks, limits, files, history."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from qwen_agent import Agent, tool
from qwen_agent.cli import main
from qwen_agent.errors import ConfigurationError
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.tools.code_interpreter import CodeInterpreter
from qwen_agent.ui import UILimits
from qwen_agent.ui.cli import check_exposure
from qwen_agent.ui.events import is_binary
from tests.processes import cmdline, descendants
from tests.scripted_server import ScriptedOpenAIServer
from tests.ui.conftest import PacedScriptedLLM, react_agent, ui_server

H = {"X-Requested-By": "qwen-agent-ui"}


def events(client: httpx.Client, cid: str, after: int = 0) -> list[dict]:
    """Every event of a conversation, once its run has ended (the stream ends by itself then)."""
    with client.stream("GET", f"/ui/api/conversations/{cid}/events", params={"after": after}) as r:
        assert r.status_code == 200
        lines = [line for line in r.iter_lines() if line.startswith("data: ")]
    return [json.loads(line[6:]) for line in lines if line != "data: {}"]


def new_client(server, **kwargs) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{server.port}", timeout=20, **kwargs)


def test_a_run_as_events_and_the_next_run_sees_the_history() -> None:
    llm = ScriptedLLM(["Paris.", "About 2.1 million people."])
    with react_agent(llm, []) as agent, ui_server(agent) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        assert c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "Capital of France?"},
                      headers=H).json() == {"first": 0}
        got = events(c, cid)
        assert [e["type"] for e in got[:1] + got[-2:]] == ["user", "step", "done"]
        assert "".join(e["text"] for e in got if e["type"] == "delta") == "Paris."
        assert got[-2]["kind"] == "final" and got[-2]["answer"] == "Paris." and got[-1]["status"] == "final"
        assert [e["seq"] for e in got] == list(range(len(got)))
        second = c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "How many live there?"},
                        headers=H).json()["first"]
        assert second == len(got)
        assert events(c, cid, after=second)[-1]["status"] == "final"
        prompt = llm.calls[1][0]
        assert "Capital of France?" in str(prompt) and "Paris." in str(prompt)


def test_refusals_say_why() -> None:
    limits = UILimits(max_message_chars=50, max_upload_bytes=100)
    with react_agent(PacedScriptedLLM(["Final Answer: " + "z" * 300], delay=0.01), [CodeInterpreter()]) as agent, \
            ui_server(agent, limits=limits) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        url = f"/ui/api/conversations/{cid}"
        r = c.post(f"{url}/messages", json={"text": "y" * 51}, headers=H)
        assert r.status_code == 413 and "51 characters; the limit is 50" in r.json()["error"]
        assert c.post(f"{url}/messages", json={"text": "  "}, headers=H).status_code == 400
        assert c.post(f"{url}/messages", content=b"\xff", headers=H).status_code == 400
        deep = c.post(f"{url}/messages", content=b"[" * 100_000 + b"]" * 100_000, headers=H)
        assert deep.status_code == 400 and "nest deeper than 64" in deep.json()["error"]
        assert c.post("/ui/api/login", content=b'{"key": 1, "key": 2}', headers=H).status_code == 400
        assert c.post(f"{url}/messages", json={"text": "hi"}).status_code == 403  # no X-Requested-By
        assert c.post("/ui/api/conversations/nope/messages", json={"text": "hi"}, headers=H).status_code == 404
        assert c.post(f"{url}/messages", json={"text": "hi"}, headers=H).status_code == 200
        busy = c.post(f"{url}/messages", json={"text": "again"}, headers=H)
        assert busy.status_code == 409 and "still answering" in busy.json()["error"]
        assert c.post(f"{url}/stop", headers=H).json() == {"stopping": True}
        assert events(c, cid)[-1] == {"type": "done", "status": "cancelled", "seq": len(events(c, cid)) - 1}

        big = c.put(f"{url}/files/big.txt", content=b"a" * 101, headers=H)
        assert big.status_code == 413 and "upload limit of 100 bytes" in big.json()["error"]
        hidden = c.put(f"{url}/files/.bashrc", content=b"x", headers=H)
        assert hidden.status_code == 400 and "unusable file name" in hidden.json()["error"]
        work = agent_work_dir(server, cid)
        assert sorted(p.name for p in work.iterdir()) == []  # nothing half-written kept
        assert c.get(f"{url}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404


def agent_work_dir(server, cid):
    return server.app.state.ui_store.get(cid).work_dir


def test_uploads_land_in_the_work_dir_and_download_back() -> None:
    with react_agent(ScriptedLLM([]), [CodeInterpreter()]) as agent, ui_server(agent) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        url = f"/ui/api/conversations/{cid}/files"
        payload = bytes(range(256))
        info = c.put(f"{url}/raw.bin", content=payload, headers=H).json()
        assert info == {"name": "raw.bin", "size": 256, "binary": True, "image": False,
                        "url": f"{url}/raw.bin"}
        text = c.put(f"{url}/notes.txt", content="héllo\n".encode(), headers=H).json()
        assert text["binary"] is False and text["size"] == 7
        assert (agent_work_dir(server, cid) / "raw.bin").read_bytes() == payload
        down = c.get(f"{url}/raw.bin")
        assert down.content == payload and down.headers["content-disposition"].startswith("attachment")
        assert down.headers["content-security-policy"] == "sandbox"
        assert [e["type"] for e in events(c, cid)] == ["upload", "upload"]


def test_downloads_of_names_the_file_system_refuses_are_404_not_500() -> None:
    # found by the schema fuzz (tests/server/test_fuzz.py): a NUL byte or an overlong name raised in resolve()
    with react_agent(ScriptedLLM([]), [CodeInterpreter()]) as agent, ui_server(agent) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        url = f"/ui/api/conversations/{cid}/files"
        # a newline once matched only the upload route (Starlette's `path` stops at it): 405 instead of 404
        for name in ("a%00b", "x" * 300, "a/" * 3000 + "b", "a%0Ab", "sub/a%0A%0Ab"):
            r = c.get(f"{url}/{name}")
            assert r.status_code == 404 and "no file" in r.json()["error"], (name[:20], r.status_code)
            assert len(r.json()["error"]) < 150  # the name is cut in the message
        assert c.put(f"{url}/ok.txt", content=b"ok", headers=H).status_code == 200
        assert c.get(f"{url}/ok.txt").content == b"ok"  # the server still answers


def test_uploads_need_the_code_interpreter() -> None:
    with react_agent(ScriptedLLM([]), []) as agent, ui_server(agent) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        r = c.put(f"/ui/api/conversations/{cid}/files/a.txt", content=b"x", headers=H)
        assert r.status_code == 400 and "--tool code_interpreter" in r.json()["error"]


def test_loopback_names_only_without_a_key_and_the_key_when_set() -> None:
    with react_agent(ScriptedLLM([]), []) as agent:
        with ui_server(agent) as server, new_client(server) as c:
            assert c.get("/ui/api/info").status_code == 200
            assert c.get("/ui/api/info", headers={"Host": "localhost:1234"}).status_code == 200
            rebound = c.get("/ui/", headers={"Host": "attacker.example:80"})
            assert rebound.status_code == 403 and "loopback" in rebound.json()["error"]
        with ui_server(agent, api_key="s3cret") as server, new_client(server) as c:
            assert c.get("/ui/", headers={"Host": "box.lan"}).status_code == 200  # the page itself is public
            assert c.post("/ui/api/conversations", headers=H).status_code == 401
            assert c.post("/ui/api/login", json={"key": "wrong"}, headers=H).status_code == 401
            bearer = {**H, "Authorization": "Bearer s3cret"}
            assert c.post("/ui/api/conversations", headers=bearer).status_code == 200
            assert c.post("/ui/api/login", json={"key": "s3cret"}, headers=H).status_code == 200
            assert c.post("/ui/api/conversations", headers=H).status_code == 200  # the cookie now


def test_binding_beyond_loopback_needs_a_key(capsys) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_exposure(host, None)
    check_exposure("0.0.0.0", "key")
    with pytest.raises(ConfigurationError, match="--require-key"):
        check_exposure("0.0.0.0", None)
    assert main(["ui", "--host", "192.168.1.5", "--no-browser"]) == 1
    assert "--require-key" in capsys.readouterr().err


def test_the_replayed_history_is_the_agents_own_conversation() -> None:
    """A turn with reasoning and two parallel calls: the UI keeps `AgentResult.messages` itself (reasoning in
    `reasoning_content`, both calls in one assistant message), never a reconstruction."""
    @tool
    def f(x: int) -> str:
        """Echo x.

        Args:
            x: a number
        """
        return f"got {x}"

    calls = "".join(f'<tool_call>\n{{"name": "f", "arguments": {{"x": {i}}}}}\n</tool_call>\n' for i in (1, 2))
    script = [f"<think>\ntwo at once\n</think>\n\n{calls}", "They are got 1 and got 2."]
    expected = Agent(ScriptedLLM(script), [f], tool_format="hermes").run_result("q").messages
    with Agent(ScriptedLLM(script), [f], tool_format="hermes") as agent, ui_server(agent) as server, \
            new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "q"}, headers=H)
        kinds = [(e["kind"], e.get("decision")) for e in events(c, cid) if e["type"] == "step"]
        history = server.app.state.ui_store.get(cid).history
    assert kinds == [("turn", None), ("observation", None), ("observation", None), ("turn", None), ("final", None)]
    ids = {m.tool_call_id for m in history if m.role == "tool"}  # fresh ids each run: compare the rest
    assert [m.model_dump(exclude={"tool_calls", "tool_call_id"}) for m in history] == [
        m.model_dump(exclude={"tool_calls", "tool_call_id"}) for m in expected]
    assert history[1].reasoning_content == "two at once" and history[1].content is None
    assert [(t.name, t.arguments) for t in history[1].tool_calls] == [("f", '{"x": 1}'), ("f", '{"x": 2}')]
    assert ids == {t.id for t in history[1].tool_calls}


def test_binary_sniffing() -> None:
    assert is_binary(b"a\0b") and is_binary(b"\xff\xfe\xfa text")
    assert not is_binary("naïve café".encode()) and not is_binary(b"")
    assert not is_binary("日本".encode()[:-1])  # a multi-byte character cut at the sniffing limit


def test_the_command_serves_the_page_over_a_model_server(tmp_path) -> None:
    """`qwen-agent ui` as a user runs it, against a real OpenAI-compatible HTTP server (scripted replies)."""
    with ScriptedOpenAIServer(["Hello from the command."]) as upstream, socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cmd = [sys.executable, "-m", "qwen_agent.cli", "ui", "--base-url", upstream.base_url, "--model", "m",
               "--no-browser", "--port", str(port), "--data-dir", str(tmp_path)]
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
        try:
            assert f"http://127.0.0.1:{port}/ui/" in proc.stderr.readline()
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=20) as c:
                page = _retry(lambda: c.get("/ui/"))
                assert page.status_code == 200 and "/ui/static/app.js" in page.text
                assert c.get("/ui/static/highlight.js").status_code == 200
                cid = c.post("/ui/api/conversations", headers=H).json()["id"]
                c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "hi"}, headers=H)
                assert events(c, cid)[-2]["answer"] == "Hello from the command."
        finally:
            proc.terminate()
            proc.wait(10)
        assert proc.returncode in (0, -15)


def _retry(call, tries: int = 100):
    for _ in range(tries):
        try:
            return call()
        except httpx.ConnectError:
            time.sleep(0.05)
    return call()


@pytest.mark.kernel
def test_stop_interrupts_code_that_runs_long() -> None:
    sleepy = "Action: code_interpreter\nAction Input: ```py\nimport time\nx = 41\ntime.sleep(60)\n```\n"
    llm = ScriptedLLM([sleepy, "Action: code_interpreter\nAction Input: print(x + 1)\n", "Final Answer: 42"])
    with react_agent(llm, [CodeInterpreter(timeout=60)]) as agent, ui_server(agent) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        url = f"/ui/api/conversations/{cid}"
        c.post(f"{url}/messages", json={"text": "sleep"}, headers=H)
        conv = server.app.state.ui_store.get(cid)
        deadline = time.monotonic() + 30
        while not any(e.get("kind") == "turn" for e in conv.events) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the code is sleeping now
        started = time.monotonic()
        assert c.post(f"{url}/stop", headers=H).json() == {"stopping": True}
        got = events(c, cid)
        assert time.monotonic() - started < 5  # not the 60 s the code asked for
        assert got[-1]["status"] == "cancelled"
        observation = next(e for e in got if e.get("kind") == "observation")
        assert "KeyboardInterrupt" in observation["observation"]
        assert len(llm.calls) == 1  # the model was not asked again after the stop
        # the kernel kept its state: the next run reads x
        c.post(f"{url}/messages", json={"text": "go on"}, headers=H)
        later = events(c, cid, after=len(got))
        assert any(e.get("observation") == "42" for e in later)


@pytest.mark.kernel
def test_files_a_step_writes_are_announced_at_most_50() -> None:
    code = ("Action: code_interpreter\nAction Input: ```py\nimport os\nos.makedirs('out', exist_ok=True)\n"
            "for i in range(60):\n    open(f'out/{i:02d}.txt', 'w').write('x' * i)\n"
            "open('.hidden', 'w').write('no')\n```\n")
    with react_agent(ScriptedLLM([code, "Final Answer: wrote them"]), [CodeInterpreter()]) as agent, \
            ui_server(agent) as server, new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "write files"}, headers=H)
        (files,) = [e for e in events(c, cid) if e["type"] == "files"]
        assert files["more"] == 10 and len(files["files"]) == 50
        assert files["files"][3] == {"name": "out/03.txt", "size": 3, "binary": False, "image": False,
                                     "url": f"/ui/api/conversations/{cid}/files/out/03.txt"}
        assert c.get(files["files"][3]["url"]).text == "xxx"


def test_two_conversations_take_turns_with_the_model() -> None:
    llm = PacedScriptedLLM(["one answer"], delay=0.01, cycle=True)
    with react_agent(llm, []) as agent, ui_server(agent) as server, new_client(server) as c:
        ids = [c.post("/ui/api/conversations", headers=H).json()["id"] for _ in range(2)]
        for cid in ids:
            c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "go"}, headers=H)
        first, second = (events(c, cid) for cid in ids)
        for got in (first, second):  # each streamed its own reply, not a mix of both
            assert "".join(e["text"] for e in got if e["type"] == "delta") == "one answer"
            assert got[-1]["status"] == "final"
        assert [e["type"] for e in second[:2]] == ["user", "status"]
        assert "another conversation is using the model" in second[1]["text"]


def _children_running(needle: str) -> list[str]:
    """Command lines of this process's descendants that contain `needle`."""
    return [cmd for cmd in map(cmdline, descendants(os.getpid())) if needle in cmd]


@pytest.mark.kernel
def test_mcp_tools_start_when_first_needed_and_run_in_the_ui() -> None:
    pytest.importorskip("mcp")
    servers = {"mcpServers": {"sandbox": {"command": sys.executable,
                                          "args": ["-m", "qwen_agent.cli", "mcp-server", "--timeout", "30"]}}}
    call = 'Action: python\nAction Input: {"code": "print(6 * 7)"}\n'
    agent = Agent(ScriptedLLM([call, "Final Answer: 42"]), [servers], lang="en")
    with agent, ui_server(agent) as server, new_client(server) as c:
        assert c.get("/ui/api/info").json()["tools"] == ["MCP: sandbox"]
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        assert _children_running("mcp-server") == []  # a page that only looks starts nothing
        c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "six times seven?"}, headers=H)
        got = events(c, cid)
        observation = next(e for e in got if e.get("kind") == "observation")
        assert observation["tool_call"]["name"] == "python" and observation["observation"] == "42"
        assert got[-1]["status"] == "final"
        assert len(_children_running("mcp-server")) >= 1
    assert _children_running("mcp-server") == []  # closing the agent ends the server
