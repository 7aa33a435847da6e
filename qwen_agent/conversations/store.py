"""Conversations kept in one SQLite file, so that they outlive the process: their messages in the agent's
OpenAI shape, the records of their runs (agent steps and what a UI showed), the names of the files in their
work dirs, and whether a run was going when the process ended.

    store = ConversationStore("chats.sqlite")
    cid = store.create()
    result = agent.run_result("What is 2**10?", history=store.load(cid))
    store.save(cid, result.messages)
    ...  # another process, tomorrow:
    result = agent.run_result("And 2**11?", history=store.load(cid))
    store.save(cid, result.messages)

Every write is its own transaction, so a process killed at any moment (kill -9) loses at most the write it was
making. Several processes may share the file: SQLite's WAL journal lets readers go on while one writes, and
writers wait for each other (up to `busy_timeout` seconds). A file SQLite cannot read (truncated, overwritten) is
moved aside, named in a warning, and a fresh store starts in its place: nothing is deleted, and the next start
does not meet the same file again.

Limits: beyond `max_conversations`, or beyond `max_bytes` of stored records, the conversations updated longest
ago that are not running are deleted (with their work dirs), oldest first.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from qwen_agent.conversations.schema import SCHEMA_VERSION, check_tables, migrate
from qwen_agent.errors import QwenAgentError
from qwen_agent.schema import Message

log = logging.getLogger(__name__)

Status = Literal["idle", "running", "interrupted"]
STATUSES = ("idle", "running", "interrupted")
TITLE_CHARS = 80


class StoreError(QwenAgentError):
    """The conversation store cannot do what was asked: an unknown conversation, a row that does not read back,
    a file written by a newer version, a database locked for longer than the busy timeout."""


@dataclass(frozen=True)
class ConversationInfo:
    """One conversation as `list` shows it. Times are seconds since the epoch."""

    id: str
    title: str
    created: float
    updated: float
    status: Status
    work_dir: Path | None
    bytes: int


@dataclass(frozen=True)
class Record:
    """One entry of a conversation's run log: `kind` says what `data` (a JSON object) is ("step": an agent
    `Step` as `Step.model_dump(mode="json")` writes it; other kinds are the caller's own)."""

    seq: int
    kind: str
    data: dict[str, Any]


class ConversationStore:
    """Conversations in the SQLite file at `path` (created with its folder when missing).

    Args:
        path: the database file.
        max_conversations: the most conversations kept.
        max_bytes: the most bytes of messages and records kept, all conversations together.
        busy_timeout: seconds a write waits for another process's write to finish before `StoreError`.

    Attributes:
        moved_aside: where an unreadable file found at `path` was moved, or None.
    """

    def __init__(self, path: str | Path, *, max_conversations: int = 500, max_bytes: int = 256 * 1024 * 1024,
                 busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.max_conversations = max_conversations
        self.max_bytes = max_bytes
        self.busy_timeout = busy_timeout
        self.moved_aside: Path | None = None
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except (sqlite3.DatabaseError, UnicodeDecodeError) as e:  # the latter: damaged text SQLite hands over
            if isinstance(e, sqlite3.DatabaseError) and _is_lock(e):
                raise StoreError(f"{self.path} stayed locked by another process for {busy_timeout:g} s") from e
            self.moved_aside = self._move_aside(e)
            self._db = self._open()

    # --- opening --------------------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer qwen_agent (schema {version}; this one reads "
                                 f"up to {SCHEMA_VERSION}): upgrade qwen_agent, or pass another path")
            if db.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() != "wal":
                raise StoreError(f"{self.path}: SQLite refused WAL mode (a network file system?)")
            db.execute("PRAGMA synchronous = NORMAL")  # with WAL: a killed process loses nothing committed
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check found damage")
            if version < SCHEMA_VERSION:
                with _transaction(db):
                    migrate(db)
            check_tables(db)
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside(self, error: Exception) -> Path:
        aside = self.path.with_name(f"{self.path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}-"
                                    f"{uuid.uuid4().hex[:6]}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.replace(Path(f"{aside}{suffix}"))
        log.warning("conversation store %s could not be read (%s); moved it to %s and started a fresh one",
                    self.path, error, aside)
        return aside

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _errors(self.path), _transaction(self._db):
            yield self._db

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _errors(self.path):
            yield self._db

    # --- conversations ----------------------------------------------------------------------------------------
    def create(self, title: str = "", *, work_dir: str | Path | None = None, cid: str | None = None) -> str:
        """A new, empty conversation; returns its id (`cid`, or a new random one). `work_dir`, when given, is
        removed with the conversation.

        An empty title is replaced by the first user message appended."""
        cid = cid or uuid.uuid4().hex
        now = time.time()
        with self._write() as db:
            db.execute("INSERT INTO conversations (id, title, created, updated, work_dir) VALUES (?, ?, ?, ?, ?)",
                       (cid, title[:TITLE_CHARS], now, now, str(work_dir) if work_dir else None))
            evicted = self._over_limits(db, keep=cid)
        _remove_dirs(evicted)
        return cid

    def get(self, cid: str) -> ConversationInfo | None:
        with self._read() as db:
            row = db.execute(f"SELECT {_INFO_COLUMNS} FROM conversations WHERE id = ?", (cid,)).fetchone()
        return _info(row) if row else None

    def list(self) -> list[ConversationInfo]:
        """Every conversation, the most recently updated first."""
        with self._read() as db:
            rows = db.execute(f"SELECT {_INFO_COLUMNS} FROM conversations ORDER BY updated DESC").fetchall()
        return [_info(r) for r in rows]

    def delete(self, cid: str) -> bool:
        """Delete a conversation, its messages, records and work dir; returns whether it existed."""
        with self._write() as db:
            row = db.execute("SELECT work_dir FROM conversations WHERE id = ?", (cid,)).fetchone()
            db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
        if row:
            _remove_dirs([row[0]])
        return row is not None

    def set_status(self, cid: str, status: Status) -> None:
        """Set the conversation's state; `running` also records this process as the one running it."""
        if status not in STATUSES:
            raise StoreError(f"status {status!r} is not one of {', '.join(STATUSES)}")
        with self._write() as db:
            self._touch(db, cid, 0, status=status)
            db.execute("UPDATE conversations SET runner = ? WHERE id = ?",
                       (_this_process() if status == "running" else None, cid))

    def mark_interrupted(self) -> list[str]:
        """Mark as `interrupted` the conversations still `running` whose process has ended (one on this machine
        that no longer exists; one that recorded none); returns their ids. A UI calls it when it starts, so
        another process running conversations in the same file is left alone."""
        with self._write() as db:
            rows = db.execute("SELECT id, runner FROM conversations WHERE status = 'running'").fetchall()
            ids = [cid for cid, runner in rows if not _runner_alive(runner)]
            db.executemany("UPDATE conversations SET status = 'interrupted', runner = NULL WHERE id = ?",
                           [(cid,) for cid in ids])
        return ids

    def set_files(self, cid: str, files: dict[str, int]) -> None:
        """Record the files of the conversation's work dir: {relative name: size in bytes}."""
        with self._write() as db:
            self._touch(db, cid, 0)
            db.execute("DELETE FROM files WHERE conversation = ?", (cid,))
            db.executemany("INSERT INTO files VALUES (?, ?, ?)", [(cid, n, int(s)) for n, s in files.items()])

    def files(self, cid: str) -> dict[str, int]:
        with self._read() as db:
            self._require(db, cid)
            rows = db.execute("SELECT name, size FROM files WHERE conversation = ? ORDER BY name", (cid,)).fetchall()
        return dict(rows)

    # --- messages -------------------------------------------------------------------------------------------
    def append(self, cid: str, messages: Iterable[Message]) -> None:
        """Add messages at the end of the conversation (one transaction: all of them or none)."""
        messages = list(messages)
        rows = [m.model_dump_json(exclude_none=True) for m in messages]
        title = next((_title(m.content) for m in messages if m.role == "user" and m.content), "")
        with self._write() as db:
            self._touch(db, cid, sum(len(r) for r in rows), title=title)
            seq = db.execute("SELECT coalesce(max(seq), -1) + 1 FROM messages WHERE conversation = ?",
                             (cid,)).fetchone()[0]
            db.executemany("INSERT INTO messages VALUES (?, ?, ?)", [(cid, seq + i, r) for i, r in enumerate(rows)])
            evicted = self._over_limits(db, keep=cid)
        _remove_dirs(evicted)

    def save(self, cid: str, messages: Sequence[Message]) -> int:
        """Store a run's conversation (`AgentResult.messages`): the messages after those already stored are
        appended; system messages are left out (the agent puts its own first). Returns how many were added.

        Raises StoreError when `messages` does not begin with the stored conversation (it was changed
        meanwhile, e.g. by another process)."""
        rows = [m.model_dump_json(exclude_none=True) for m in messages if m.role != "system"]
        title = next((_title(m.content) for m in messages if m.role == "user" and m.content), "")
        with self._write() as db:
            stored = [r[0] for r in db.execute("SELECT data FROM messages WHERE conversation = ? ORDER BY seq",
                                              (cid,))]
            if [_loads(r) for r in rows[: len(stored)]] != [_loads(r) for r in stored]:
                raise StoreError(f"these messages do not continue conversation {cid} as stored (it changed since "
                                 "it was loaded?); nothing was saved")
            new = rows[len(stored):]
            self._touch(db, cid, sum(len(r) for r in new), title=title)
            db.executemany("INSERT INTO messages VALUES (?, ?, ?)",
                           [(cid, len(stored) + i, r) for i, r in enumerate(new)])
            evicted = self._over_limits(db, keep=cid)
        _remove_dirs(evicted)
        return len(new)

    def truncate(self, cid: str, keep: int) -> None:
        """Keep the first `keep` messages of the conversation, delete the rest (a question whose run failed)."""
        with self._write() as db:
            self._touch(db, cid, 0)
            db.execute("DELETE FROM messages WHERE conversation = ? AND seq >= ?", (cid, keep))

    def load(self, cid: str) -> list[Message]:
        """The conversation's messages, as `Agent.run_result(..., history=...)` takes them."""
        with self._read() as db:
            self._require(db, cid)
            rows = db.execute("SELECT seq, data FROM messages WHERE conversation = ? ORDER BY seq", (cid,)).fetchall()
        out = []
        for seq, data in rows:
            try:
                out.append(Message.model_validate_json(data))
            except (ValidationError, ValueError, TypeError) as e:
                raise StoreError(f"{self.path}: message {seq} of conversation {cid} does not read back as a "
                                 f"message ({_first_line(e)}); the row is left as it is") from None
        return out

    # --- run records ------------------------------------------------------------------------------------------
    def add_record(self, cid: str, kind: str, data: dict[str, Any]) -> int:
        """Append one entry to the conversation's run log (an agent step: kind "step" and
        `step.model_dump(mode="json")`); returns its number."""
        text = json.dumps(data, ensure_ascii=False)
        with self._write() as db:
            self._touch(db, cid, len(text))
            seq = db.execute("SELECT coalesce(max(seq), -1) + 1 FROM records WHERE conversation = ?",
                             (cid,)).fetchone()[0]
            db.execute("INSERT INTO records VALUES (?, ?, ?, ?)", (cid, seq, kind, text))
        return seq

    def records(self, cid: str, kind: str | None = None) -> list[Record]:
        """The run log in order, all of it or one kind."""
        with self._read() as db:
            self._require(db, cid)
            rows = db.execute("SELECT seq, kind, data FROM records WHERE conversation = ? AND (? IS NULL OR kind = ?) "
                              "ORDER BY seq", (cid, kind, kind)).fetchall()
        out = []
        for seq, k, data in rows:
            try:
                value = json.loads(data)
            except (ValueError, TypeError) as e:
                value = e
            if not isinstance(value, dict):
                raise StoreError(f"{self.path}: record {seq} of conversation {cid} is not a JSON object; the row is "
                                 "left as it is") from None
            out.append(Record(seq, k, value))
        return out

    # --- helpers --------------------------------------------------------------------------------------------
    def _require(self, db: sqlite3.Connection, cid: str) -> None:
        if db.execute("SELECT 1 FROM conversations WHERE id = ?", (cid,)).fetchone() is None:
            raise StoreError(f"no conversation {cid!r} in {self.path}")

    def _touch(self, db: sqlite3.Connection, cid: str, added: int, *, status: str | None = None,
               title: str = "") -> None:
        cur = db.execute("UPDATE conversations SET updated = ?, bytes = bytes + ?, status = coalesce(?, status), "
                         "title = CASE WHEN title = '' THEN ? ELSE title END WHERE id = ?",
                         (time.time(), added, status, title, cid))
        if cur.rowcount == 0:
            raise StoreError(f"no conversation {cid!r} in {self.path}")

    def _over_limits(self, db: sqlite3.Connection, keep: str) -> list[str | None]:
        """Delete the oldest conversations not running (never `keep`) until both limits hold; their work dirs."""
        count, size = db.execute("SELECT count(*), coalesce(sum(bytes), 0) FROM conversations").fetchone()
        size = _number(size)
        if count <= self.max_conversations and size <= self.max_bytes:
            return []
        evicted = []
        for cid, work_dir, nbytes in db.execute(
                "SELECT id, work_dir, bytes FROM conversations WHERE status != 'running' AND id != ? "
                "ORDER BY updated", (keep,)).fetchall():
            if count <= self.max_conversations and size <= self.max_bytes:
                break
            db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            log.info("conversation store %s: deleted conversation %s (over the limits)", self.path, cid)
            count, size = count - 1, size - int(_number(nbytes))
            evicted.append(work_dir)
        return evicted


_INFO_COLUMNS = "id, title, created, updated, status, work_dir, bytes"


def _info(row: tuple[Any, ...]) -> ConversationInfo:
    cid, title, created, updated, status, work_dir, nbytes = row
    # a damaged row still lists (an unknown status reads as interrupted: the run's end was not recorded)
    return ConversationInfo(str(cid), title if isinstance(title, str) else "", _number(created), _number(updated),
                            status if status in STATUSES else "interrupted",
                            Path(work_dir) if isinstance(work_dir, str) and work_dir else None, int(_number(nbytes)))


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else 0.0


def _title(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def _loads(text: Any) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError):
        return text


def _first_line(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


_PROCESS_TAG = uuid.uuid4().hex[:12]  # tells this process from an earlier one with the same pid (a container's 1)


def _this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TAG}"


def _runner_alive(runner: Any) -> bool:
    """Whether the process a `runner` value names may still be running (one on another machine: assumed so)."""
    host, pid, tag = (str(runner or "").rsplit(":", 2) + ["", "", ""])[:3]
    if not host or not pid.isdigit():
        return False
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return tag == _PROCESS_TAG
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _remove_dirs(dirs: Iterable[str | None]) -> None:
    for d in dirs:
        if isinstance(d, str) and Path(d).is_absolute():  # what `create` wrote; a damaged row names nothing
            shutil.rmtree(d, ignore_errors=True)


def _is_lock(e: sqlite3.Error) -> bool:
    return "locked" in str(e) or "busy" in str(e)


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")  # take the write lock now: no upgrade deadlock between two writers
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


@contextmanager
def _errors(path: Path) -> Iterator[None]:
    """SQLite's own errors as `StoreError`, saying what to do."""
    try:
        yield
    except UnicodeDecodeError as e:
        raise StoreError(f"{path} holds text that is not UTF-8 ({e}): the file is damaged") from e
    except sqlite3.DatabaseError as e:
        if _is_lock(e):
            raise StoreError(f"{path} stayed locked by another process past the busy timeout: {e}") from e
        raise StoreError(f"{path} could not be read or written ({e}); if it is damaged, move it away: a "
                         "fresh store starts in its place") from e
    except sqlite3.Error as e:  # used after close(), say
        raise StoreError(f"{path}: {e}") from e

