"""Conversations kept in the data dir (a real SQLite file) across UI servers: replayed, continued, listed,
deleted, limited; over the HTTP API of real servers on 127.0.0.1."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from qwen_agent.cli import main
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.settings import Settings
from qwen_agent.tools.code_interpreter import CodeInterpreter
from tests.ui.conftest import react_agent, ui_server
from tests.ui.test_api import H, events, new_client

WRITE = ("Action: code_interpreter\nAction Input: ```py\nopen('result.txt', 'w').write('42')\nsecret = 6\n"
         "print('wrote it')\n```\n")


def _stored(got: list[dict]) -> list[dict]:
    """The events a restarted server replays: all but streamed text and wait notes, numbered again."""
    kept = [{k: v for k, v in e.items() if k != "seq"} for e in got if e["type"] not in ("delta", "status")]
    return [{**e, "seq": n} for n, e in enumerate(kept)]


@pytest.mark.kernel
def test_a_restarted_server_replays_continues_and_serves_files(tmp_path) -> None:
    started = time.time()
    first_llm = ScriptedLLM([WRITE, "Final Answer: I wrote 42 to result.txt."])
    with react_agent(first_llm, [CodeInterpreter()]) as agent, ui_server(agent, data_dir=tmp_path) as server, \
            new_client(server) as c:
        cid = c.post("/ui/api/conversations", headers=H).json()["id"]
        c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "Write 42 to a file.\nPlease."}, headers=H)
        before = events(c, cid)
        assert before[-1]["status"] == "final"
    second_llm = ScriptedLLM(["Final Answer: It holds 42."])
    with react_agent(second_llm, [CodeInterpreter()]) as agent, ui_server(agent, data_dir=tmp_path) as server, \
            new_client(server) as c:
        (listed,) = c.get("/ui/api/conversations").json()["conversations"]
        assert (listed["id"], listed["title"], listed["status"]) == (cid, "Write 42 to a file.", "idle")
        assert started <= listed["updated"] <= time.time()
        after = events(c, cid)
        assert after == _stored(before)  # the same steps, files and end, as the first server sent them
        (files,) = [e for e in after if e["type"] == "files"]
        assert [f["name"] for f in files["files"]] == ["result.txt"]
        assert c.get(files["files"][0]["url"]).text == "42"  # the work dir is still there
        c.post(f"/ui/api/conversations/{cid}/messages", json={"text": "What does it hold?"}, headers=H)
        assert events(c, cid, after=len(after))[-1]["status"] == "final"
        prompt = str(second_llm.calls[0][0])  # the model saw the first run: question, call, result, answer
        assert "Write 42 to a file." in prompt and "wrote it" in prompt and "I wrote 42 to result.txt." in prompt


def test_delete_removes_the_conversation_and_its_work_dir(tmp_path) -> None:
    with react_agent(ScriptedLLM(["Final Answer: hi"]), []) as agent, \
            ui_server(agent, data_dir=tmp_path) as server, new_client(server) as c:
        keep, drop = (c.post("/ui/api/conversations", headers=H).json()["id"] for _ in range(2))
        c.post(f"/ui/api/conversations/{drop}/messages", json={"text": "hello"}, headers=H)
        assert events(c, drop)[-1]["status"] == "final"
        assert (tmp_path / "work" / drop).is_dir()
        assert c.delete(f"/ui/api/conversations/{drop}").status_code == 403  # without the page's header
        assert c.delete(f"/ui/api/conversations/{drop}", headers=H).json() == {"deleted": True}
        assert not (tmp_path / "work" / drop).exists()
        assert [x["id"] for x in c.get("/ui/api/conversations").json()["conversations"]] == [keep]
        assert c.get(f"/ui/api/conversations/{drop}/events").status_code == 404
        assert c.delete(f"/ui/api/conversations/{drop}", headers=H).status_code == 404
    db = sqlite3.connect(tmp_path / "ui.sqlite")
    assert db.execute("SELECT count(*) FROM records WHERE conversation = ?", (drop,)).fetchone() == (0,)
    db.close()


def test_the_oldest_idle_conversations_go_beyond_the_limit(tmp_path) -> None:
    with react_agent(ScriptedLLM([]), []) as agent, ui_server(agent, data_dir=tmp_path, max_stored=2) as server, \
            new_client(server) as c:
        ids = [c.post("/ui/api/conversations", headers=H).json()["id"] for _ in range(3)]
        assert {x["id"] for x in c.get("/ui/api/conversations").json()["conversations"]} == set(ids[1:])
        assert not (tmp_path / "work" / ids[0]).exists()
        assert c.get(f"/ui/api/conversations/{ids[0]}/events").status_code == 404


def test_an_unreadable_store_is_moved_aside_and_the_page_told(tmp_path) -> None:
    (tmp_path / "ui.sqlite").write_bytes(b"\0garbage" * 500)
    with react_agent(ScriptedLLM([]), []) as agent, ui_server(agent, data_dir=tmp_path) as server, \
            new_client(server) as c:
        notice = c.get("/ui/api/info").json()["notice"]
        assert "could not be read" in notice
        aside = next(tmp_path.glob("ui.sqlite.unreadable-*"))
        assert str(aside) in notice and aside.read_bytes() == b"\0garbage" * 500
        assert c.get("/ui/api/conversations").json() == {"conversations": []}


def test_the_data_dir_comes_from_the_environment_when_not_given(monkeypatch) -> None:
    assert Settings.from_env({"QWEN_AGENT_DATA": "/d", "XDG_DATA_HOME": "/x"}).data_dir == Path("/d")
    assert Settings.from_env({"XDG_DATA_HOME": "/x"}).data_dir == Path("/x/qwen_agent")
    monkeypatch.setenv("HOME", "/home/someone")
    assert Settings.from_env({}).data_dir == Path("/home/someone/.local/share/qwen_agent")


def test_the_command_refuses_a_store_of_a_newer_version(tmp_path, capsys) -> None:
    db = sqlite3.connect(tmp_path / "ui.sqlite")
    db.execute("PRAGMA user_version = 7")
    db.commit()
    db.close()
    assert main(["ui", "--backend", "openai", "--no-browser", "--port", "0", "--data-dir", str(tmp_path)]) == 1
    assert "written by a newer qwen_agent (schema 7" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ui.sqlite"]  # left as it was
