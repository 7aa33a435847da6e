"""Hostile MCP servers: each gives a clear error or observation, the agent goes on, and nothing leaks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen_agent import Agent, ScriptedLLM
from qwen_agent.errors import MCPServerError, MCPToolError
from qwen_agent.tools.mcp import MCPToolset

from .conftest import alive, cmdline, demo_config, descendants, hostile_config, mcp_processes, wait_gone

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def no_leaks():
    before = set(mcp_processes())
    yield
    assert wait_gone(list(set(mcp_processes()) - before)) == []


def only_tool(toolset: MCPToolset):
    tools = toolset.tools()
    assert [t.name for t in tools] == ["echo"]
    return tools[0]


def test_server_that_crashes_mid_call(no_leaks):
    with MCPToolset([hostile_config("crash")]) as toolset:
        echo = only_tool(toolset)
        start = time.monotonic()
        with pytest.raises(MCPServerError) as info:
            echo.call({"text": "hi"})
        assert time.monotonic() - start < 15
        assert "crashed, and again after a restart" in str(info.value)
        assert str(info.value).endswith("hostile: crashing mid-call")  # its stderr tail
        assert toolset._connections["crash"].starts == 2  # restarted once, not forever


def test_server_that_never_answers(no_leaks):
    with MCPToolset([hostile_config("hang", timeout=2)]) as toolset:
        echo = only_tool(toolset)
        for _ in range(2):  # and again: the deadline holds each time
            start = time.monotonic()
            with pytest.raises(MCPToolError, match="did not answer call_tool within 2 s"):
                echo.call({"text": "hi"})
            assert 1.9 < time.monotonic() - start < 3.5
        start = time.monotonic()
    assert time.monotonic() - start < 10  # close ends it although it ignores SIGTERM and stdin EOF


def test_server_that_floods_50_mb(no_leaks):
    with MCPToolset([hostile_config("flood", timeout=30)]) as toolset:
        echo = only_tool(toolset)
        start = time.monotonic()
        with pytest.raises(MCPToolError, match=r"reply was 50000\d\d\d bytes, over the client's limit of 8000000"):
            echo.call({"text": "hi"})
        assert time.monotonic() - start < 20
        assert toolset._connections["flood"].starts == 1  # the server lives on: it was only the reply


def test_server_that_sends_malformed_json_rpc(no_leaks):
    with MCPToolset([hostile_config("malformed", timeout=20)]) as toolset:
        echo = only_tool(toolset)
        start = time.monotonic()
        with pytest.raises(MCPServerError, match="'malformed'.*sent a message that is not valid JSON-RPC"):
            echo.call({"text": "hi"})
        assert time.monotonic() - start < 5  # at once, not at the deadline


def test_server_that_never_answers_initialize(no_leaks):
    toolset = MCPToolset([hostile_config("silent", startup_timeout=2)])
    start = time.monotonic()
    with pytest.raises(MCPServerError, match=r"MCP server 'silent' .* did not answer within 2 s of starting"):
        toolset.start()
    assert 1.9 < time.monotonic() - start < 8


def test_tool_with_an_invalid_schema_is_left_out_and_said(no_leaks):
    with MCPToolset([hostile_config("badschema")]) as toolset:
        assert only_tool(toolset).call({"text": "x"}) == "ok"
        assert len(toolset.problems) == 1
        assert "tool 'broken' left out, its input schema is invalid" in toolset.problems[0]
        assert "no-such-type" in toolset.problems[0]


def call(name: str, args: dict) -> str:
    return f"Thought: t\nAction: {name}\nAction Input: {json.dumps(args)}"


def test_the_agent_goes_on_after_every_hostile_server(no_leaks):
    servers = [hostile_config(m, timeout=3) for m in ("crash", "hang", "flood", "malformed")] + [demo_config()]
    script = [call(f"{m}-echo", {"text": "x"}) for m in ("crash", "hang", "flood", "malformed")]
    llm = ScriptedLLM([*script, call("demo-echo", {"text": "still here"}), "Thought: ok\nFinal Answer: survived"])
    with MCPToolset(servers) as toolset, Agent(llm, tools=[toolset], max_steps=10, tool_format="react") as agent:
        result = agent.run_result("try them all")
    observations = [s.observation for s in result.steps if s.kind == "observation"]
    assert [o.split(":")[0] for o in observations[:4]] == ["Error"] * 4
    assert "MCPServerError" in observations[0] and "did not answer" in observations[1]
    assert "over the client's limit" in observations[2] and "not valid JSON-RPC" in observations[3]
    assert observations[4] == "still here" and result.answer == "survived"


def test_close_ends_a_server_that_ignores_sigterm_and_its_detached_child(tmp_path, no_leaks):
    pidfile = tmp_path / "pids.json"
    toolset = MCPToolset([hostile_config("daemon", str(pidfile))])
    toolset.start()
    server, daemon = json.loads(pidfile.read_text())
    assert alive(server) and alive(daemon)
    toolset.close()
    assert wait_gone([server, daemon]) == []


_OWNER = """
import json, sys
sys.path.insert(0, sys.argv[1])
from qwen_agent.tools.mcp import MCPToolset, MCPServerConfig
from tests.mcp_tests.conftest import demo_config, hostile_config
toolset = MCPToolset([demo_config(), hostile_config("daemon", sys.argv[2])]).start()
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.mark.slow
def test_no_orphans_when_the_agent_process_is_sigkilled(tmp_path):
    pidfile = tmp_path / "pids.json"
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, str(REPO), str(pidfile)], cwd=REPO,
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout.readline().strip() == "ready"
        server, daemon = json.loads(pidfile.read_text())
        pids = descendants(owner.pid)
        assert server in pids and daemon in pids and len(pids) >= 5  # 2 supervisors, 2 servers, the daemon
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    assert wait_gone(pids) == [], [cmdline(p) for p in pids if alive(p)]
    assert not any(os.path.exists(f"/proc/{p}") and alive(p) for p in pids)
