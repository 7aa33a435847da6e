"""Damaged store files and rows, generated: the store opens (a fresh file, the old one moved aside and kept
byte for byte) or reports a `StoreError`; it never raises anything else, never loops, never drops data silently."""

from __future__ import annotations

import contextlib
import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_agent.conversations import ConversationStore, StoreError
from qwen_agent.schema import Message, ToolCall

CALL = ToolCall(name="python", arguments='{"code": "1+1"}', id="call_9")


def _healthy(path: Path) -> list[str]:
    with ConversationStore(path) as store:
        ids = []
        for n in range(4):
            cid = store.create()
            store.append(cid, [Message.user(f"question {n} " + "é" * 50), Message.assistant(None, [CALL]),
                               Message.tool("2", tool_call_id="call_9"), Message.assistant(f"answer {n}")])
            store.add_record(cid, "step", {"kind": "final", "index": 1, "answer": f"answer {n}"})
            store.set_files(cid, {f"f{n}.txt": n})
            ids.append(cid)
    return ids


def _read_everything(store: ConversationStore) -> None:
    """Read every conversation; only `StoreError` may come out."""
    try:
        infos = store.list()
    except StoreError:
        return
    for info in infos:
        for read in (store.load, store.records, store.files):
            with contextlib.suppress(StoreError):
                read(info.id)


def _open_damaged(path: Path, damaged: bytes) -> None:
    path.write_bytes(damaged)
    try:
        store = ConversationStore(path)
    except StoreError:
        assert path.read_bytes() == damaged  # refused, and left as it was
        return
    with store:
        if store.moved_aside is not None:
            assert store.moved_aside.read_bytes() == damaged  # kept aside, not lost
        _read_everything(store)
        cid = store.create()
        store.append(cid, [Message.user("after the damage")])
    with ConversationStore(path) as again:  # the next start opens what this one left: no crash loop
        assert again.moved_aside is None
        assert again.load(cid) == [Message.user("after the damage")]


FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(cut=st.floats(0.0, 1.0))
def test_a_truncated_file(cut: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.sqlite"
        _healthy(path)
        data = path.read_bytes()
        _open_damaged(path, data[: int(len(data) * cut)])


@FUZZ
@given(at=st.floats(0.0, 1.0), noise=st.binary(min_size=1, max_size=64))
def test_bytes_overwritten(at: float, noise: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.sqlite"
        _healthy(path)
        data = bytearray(path.read_bytes())
        start = int((len(data) - 1) * at)
        data[start:start + len(noise)] = noise
        _open_damaged(path, bytes(data[: len(path.read_bytes())]))


INT64 = st.integers(-(2**63), 2**63 - 1)  # what an SQLite INTEGER holds
ROW = st.one_of(st.text(max_size=80), st.binary(max_size=40), INT64,
                st.sampled_from(['{"role": "user"}', '{"role": "user", "content": 5}', "[]", "{}", "null",
                                 '{"role": "assistant", "tool_calls": [{"name": 1}]}', '{"kind": "step"}']))


@FUZZ
@given(message=ROW, record=ROW, title=ROW, status=ROW, work_dir=st.one_of(st.none(), INT64, st.binary()))
def test_malformed_rows(message, record, title, status, work_dir) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "c.sqlite"
        bad, *good = _healthy(path)
        db = sqlite3.connect(path)
        db.execute("UPDATE messages SET data = ? WHERE conversation = ? AND seq = 1", (message, bad))
        db.execute("UPDATE records SET data = ? WHERE conversation = ?", (record, bad))
        db.execute("UPDATE conversations SET title = ?, status = ?, work_dir = ? WHERE id = ?",
                   (title, status, work_dir, bad))
        db.commit()
        db.close()
        with ConversationStore(path) as store:
            assert store.moved_aside is None  # a bad row is not a bad file
            _read_everything(store)
            for cid in good:  # the other conversations read as they were written
                assert store.load(cid)[-1] == Message.assistant(f"answer {good.index(cid) + 1}")
            store.delete(bad)
            assert store.get(bad) is None
