"""The SQLite conversation store on real files: round trips, limits, the version-1 migration, two processes
appending at once, and damaged files and rows."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_agent.conversations import SCHEMA_V1, ConversationStore, StoreError
from qwen_agent.schema import Message, Step, ToolCall

REPO = Path(__file__).resolve().parents[1]

CALL = ToolCall(name="code_interpreter", arguments='{"code": "print(2**10)"}', id="call_1")
EPISODE = [
    Message.user("What is 2**10?\nShow the code."),
    Message.assistant(None, [CALL], reasoning="I should compute it."),
    Message.tool("1024", tool_call_id="call_1", name="code_interpreter"),
    Message.assistant("2**10 = 1024."),
]


def test_messages_round_trip_in_openai_shape(tmp_path) -> None:
    with ConversationStore(tmp_path / "c.sqlite") as store:
        cid = store.create()
        store.append(cid, EPISODE[:2])
        store.append(cid, EPISODE[2:])
        assert store.load(cid) == EPISODE
        info = store.get(cid)
        assert info is not None and info.title == "What is 2**10?" and info.status == "idle"
    with ConversationStore(tmp_path / "c.sqlite") as again:  # another process, later
        loaded = again.load(cid)
    assert [m.to_openai() for m in loaded] == [m.to_openai() for m in EPISODE]
    assert loaded[1].tool_calls == [CALL] and loaded[1].reasoning_content == "I should compute it."


def test_records_files_status_and_delete(tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "plot.png").write_bytes(b"x" * 10)
    with ConversationStore(tmp_path / "c.sqlite") as store:
        cid = store.create("mine", work_dir=work)
        other = store.create()
        step = Step(kind="final", index=3, answer="1024")
        assert store.add_record(cid, "event", {"type": "user", "text": "hi"}) == 0
        assert store.add_record(cid, "step", step.model_dump(mode="json")) == 1
        assert [r.kind for r in store.records(cid)] == ["event", "step"]
        assert Step.model_validate(store.records(cid, "step")[0].data) == step
        store.set_files(cid, {"plot.png": 10})
        assert store.files(cid) == {"plot.png": 10}
        store.set_status(cid, "interrupted")
        assert store.get(cid).status == "interrupted" and store.get(other).status == "idle"
        assert store.get(cid).title == "mine"
        assert [c.id for c in store.list()] == [cid, other]  # most recently updated first
        assert store.delete(cid) is True
        assert not work.exists()  # the work dir went with it
        assert store.get(cid) is None and store.delete(cid) is False
        with pytest.raises(StoreError, match="no conversation"):
            store.load(cid)
        with pytest.raises(StoreError, match="no conversation"):
            store.append(cid, [Message.user("lost?")])
        with pytest.raises(StoreError, match="status 'done' is not one of"):
            store.set_status(other, "done")  # type: ignore[arg-type]


def test_limits_delete_the_oldest_idle_conversations_first(tmp_path) -> None:
    with ConversationStore(tmp_path / "c.sqlite", max_conversations=3) as store:
        first, second, third = store.create("1"), store.create("2"), store.create("3")
        store.set_status(first, "running")  # the oldest, but running: kept
        fourth = store.create("4")
        assert {c.id for c in store.list()} == {first, third, fourth}
        assert second not in {c.id for c in store.list()}
    big = Message.user("x" * 1000)
    with ConversationStore(tmp_path / "b.sqlite", max_bytes=2500) as store:
        a, b = store.create(), store.create()
        store.append(a, [big])
        store.append(b, [big])
        c = store.create()
        store.append(c, [big])  # 3 x ~1030 bytes > 2500: the oldest (a) goes
        assert [i.id for i in store.list()] == [c, b]
        assert sum(i.bytes for i in store.list()) <= 2500


def _v1_file(path: Path) -> None:
    db = sqlite3.connect(path)
    db.executescript(SCHEMA_V1)
    db.execute("INSERT INTO conversations VALUES ('old', 'From last year', 1.0, 2.0)")
    db.executemany("INSERT INTO messages VALUES ('old', ?, ?, ?)",
                   [(0, "user", "Hello"), (1, "assistant", "Hi! How can I help?")])
    db.execute("PRAGMA user_version = 1")
    db.commit()
    db.close()


def test_a_version_1_file_opens_and_is_migrated(tmp_path) -> None:
    path = tmp_path / "v1.sqlite"
    _v1_file(path)
    with ConversationStore(path) as store:
        assert store.load("old") == [Message.user("Hello"), Message.assistant("Hi! How can I help?")]
        info = store.get("old")
        assert (info.title, info.created, info.status) == ("From last year", 1.0, "idle")
        store.append("old", [Message.user("Again")])
        assert store.records("old") == [] and store.files("old") == {}
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()
    with ConversationStore(path) as store:  # opening it again does not migrate twice
        assert [m.content for m in store.load("old")] == ["Hello", "Hi! How can I help?", "Again"]


def test_a_file_of_a_newer_version_is_refused_and_left_alone(tmp_path) -> None:
    path = tmp_path / "new.sqlite"
    db = sqlite3.connect(path)
    db.execute("PRAGMA user_version = 99")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer qwen_agent"):
        ConversationStore(path)
    assert path.read_bytes() == before and list(tmp_path.iterdir()) == [path]


APPENDER = """
import sys
from qwen_agent.conversations import ConversationStore
from qwen_agent.schema import Message
path, cid, who, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = ConversationStore(path)
mine = store.create(who)
for i in range(n):
    store.append(cid, [Message.user(f"{who} {i}")])
    store.add_record(mine, "event", {"i": i})
print(mine)
"""


def test_two_processes_append_to_one_file(tmp_path) -> None:
    path = tmp_path / "shared.sqlite"
    with ConversationStore(path) as store:
        cid = store.create("shared")
    n = 150
    procs = [subprocess.Popen([sys.executable, "-c", APPENDER, str(path), cid, who, str(n)], cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in ("A", "B")]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    with ConversationStore(path) as store:
        texts = [m.content for m in store.load(cid)]
        assert len(texts) == 2 * n
        for who in ("A", "B"):  # each writer's messages, all there, in its own order
            assert [t for t in texts if t.startswith(who)] == [f"{who} {i}" for i in range(n)]
        assert texts[0] != texts[-1]
        for out, _ in outs:
            assert [r.data["i"] for r in store.records(out.strip())] == list(range(n))
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_a_malformed_row_is_a_clear_error_and_the_rest_reads(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    with ConversationStore(path) as store:
        bad, good = store.create(), store.create()
        store.append(bad, EPISODE)
        store.append(good, EPISODE)
        store.add_record(bad, "step", {"kind": "final"})
    db = sqlite3.connect(path)
    db.execute("UPDATE messages SET data = '{\"role\": \"wizard\"' WHERE conversation = ? AND seq = 2", (bad,))
    db.execute("UPDATE records SET data = '[1, 2' WHERE conversation = ?", (bad,))
    db.commit()
    db.close()
    with ConversationStore(path) as store:
        with pytest.raises(StoreError, match=f"message 2 of conversation {bad} does not read back"):
            store.load(bad)
        with pytest.raises(StoreError, match=f"record 0 of conversation {bad} is not a JSON object"):
            store.records(bad)
        assert store.load(good) == EPISODE
        assert store.moved_aside is None


def test_a_garbage_file_is_moved_aside_and_named_in_the_log(tmp_path, caplog) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database, it is a shopping list\n" * 100)
    with caplog.at_level(logging.WARNING), ConversationStore(path) as store:
        assert store.moved_aside is not None
        assert store.moved_aside.read_bytes().startswith(b"this is not a database")
        assert str(store.moved_aside) in caplog.text
        cid = store.create()
        store.append(cid, [Message.user("fresh")])
    with ConversationStore(path) as store:  # the next start uses the fresh file: no loop
        assert store.moved_aside is None and store.load(cid) == [Message.user("fresh")]


def test_a_store_made_by_someone_else_is_not_taken_over(tmp_path) -> None:
    path = tmp_path / "other.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE invoices (n INTEGER)")
    db.commit()
    db.close()
    with ConversationStore(path) as store:  # moved aside rather than written into
        assert store.moved_aside is not None
    db = sqlite3.connect(store.moved_aside)
    assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("invoices",)]
    db.close()


def test_json_of_rows_is_what_the_agent_gave(tmp_path) -> None:
    """Rows hold `Message.model_dump_json` text: another reader (sqlite3 on the command line) can read them."""
    with ConversationStore(tmp_path / "c.sqlite") as store:
        cid = store.create()
        store.append(cid, EPISODE[1:2])
    db = sqlite3.connect(tmp_path / "c.sqlite")
    (data,) = db.execute("SELECT data FROM messages").fetchone()
    db.close()
    assert json.loads(data)["tool_calls"][0] == {"name": "code_interpreter", "arguments": '{"code": "print(2**10)"}',
                                                 "id": "call_1"}


def test_only_runs_of_ended_processes_are_marked_interrupted(tmp_path) -> None:
    path = tmp_path / "c.sqlite"
    with ConversationStore(path) as store:
        mine = store.create()
        store.set_status(mine, "running")  # this process runs it: not interrupted
        ended = store.create()
    code = ("import sys; from qwen_agent.conversations import ConversationStore; "
            "ConversationStore(sys.argv[1]).set_status(sys.argv[2], 'running')")
    subprocess.run([sys.executable, "-c", code, str(path), ended], cwd=REPO, check=True)  # and then it ended
    with ConversationStore(path) as store:
        assert store.mark_interrupted() == [ended]
        assert (store.get(mine).status, store.get(ended).status) == ("running", "interrupted")
        store.set_status(mine, "idle")
        assert store.mark_interrupted() == []


def test_a_closed_store_says_so(tmp_path) -> None:
    store = ConversationStore(tmp_path / "c.sqlite")
    cid = store.create()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.append(cid, [Message.user("late")])
