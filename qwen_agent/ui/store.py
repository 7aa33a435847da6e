"""The conversations the UI serves. They are kept in a `ConversationStore` (one SQLite file under the data dir,
each conversation's work dir beside it), so a restarted server shows them again; the live part of each (its
agent, its kernel) is held in memory while it is used, at most `max_live` of them: beyond that the least
recently used idle one's kernel is closed (its data stays, and it comes back when opened)."""

from __future__ import annotations

import logging
import secrets
import threading
from pathlib import Path
from typing import Any

from qwen_agent.agent import Agent
from qwen_agent.conversations import ConversationStore, StoreError
from qwen_agent.ui.conversation import Conversation

log = logging.getLogger(__name__)

INTERRUPTED = ("The server stopped while this run was going: the steps above were completed and are kept, the "
               "rest was lost. The interpreter's variables are gone (its files are kept). Send a message to go on.")


class Conversations:
    """Creates, finds, lists and deletes the UI's conversations.

    Args:
        template: the app's agent (each conversation runs a copy).
        data_dir: holds `ui.sqlite` and `work/<conversation id>/`.
        max_live: the most conversations held in memory with their kernels.
        max_conversations, max_bytes: the store's limits (the oldest idle conversations are deleted beyond them).
    """

    def __init__(self, template: Agent, data_dir: Path, *, max_live: int = 32, max_conversations: int = 500,
                 max_bytes: int = 256 * 1024 * 1024) -> None:
        self.template = template
        self.max_live = max_live
        self.work_root = data_dir / "work"
        self.db = ConversationStore(data_dir / "ui.sqlite", max_conversations=max_conversations, max_bytes=max_bytes)
        self._model_lock = threading.Lock()
        self._lock = threading.Lock()
        self._live: dict[str, Conversation] = {}
        for cid in self.db.mark_interrupted():  # runs of a process that ended without finishing them
            self.db.add_record(cid, "interrupted", {"text": INTERRUPTED})
            self.db.add_record(cid, "done", {"status": "interrupted"})

    def create(self) -> Conversation:
        cid = self._new_id()
        work_dir = self.work_root / cid
        work_dir.mkdir(parents=True)
        self.db.create(work_dir=work_dir, cid=cid)
        conv = Conversation(cid, self.template, self._model_lock, self.db, work_dir)
        self._hold(conv)
        return conv

    def get(self, cid: str) -> Conversation | None:
        """The conversation, brought back from the store if it is not live; None when there is no such one."""
        with self._lock:
            conv = self._live.get(cid)
        if conv is not None:
            return conv
        try:
            info = self.db.get(cid)
            if info is None or info.work_dir is None:
                return None
            conv = Conversation.restore(info, self.template, self._model_lock, self.db)
        except StoreError:
            log.exception("conversation %s could not be read back", cid)
            raise
        return self._hold(conv)

    def list(self) -> list[dict[str, Any]]:
        """What the page's list shows, the most recently updated first."""
        with self._lock:
            running = {cid for cid, c in self._live.items() if c.running}
        return [{"id": c.id, "title": c.title or "New conversation", "updated": c.updated,
                 "status": "running" if c.id in running else c.status} for c in self.db.list()]

    def delete(self, cid: str) -> bool:
        """Stop and close the conversation, delete its data and work dir; returns whether it existed."""
        with self._lock:
            conv = self._live.pop(cid, None)
        if conv is not None:
            conv.close()
        return self.db.delete(cid)

    def _hold(self, conv: Conversation) -> Conversation:
        with self._lock:
            conv = self._live.setdefault(conv.id, conv)
            idle = sorted((c for c in self._live.values() if not c.running and c is not conv),
                          key=lambda c: c.last_used)
            closing = idle[: max(0, len(self._live) - self.max_live)]
            gone = {c.id for c in self._live.values()} - {c.id for c in self.db.list()}  # over the store's limits
            closing += [self._live[cid] for cid in gone if cid != conv.id and not self._live[cid].running]
            for c in closing:
                self._live.pop(c.id, None)
        for c in closing:
            c.close()
        return conv

    def _new_id(self) -> str:
        return secrets.token_urlsafe(16).replace("-", "x").replace("_", "y")  # a folder name anywhere

    def close(self) -> None:
        """Close every live conversation (their data stays) and the store."""
        with self._lock:
            items, self._live = list(self._live.values()), {}
        for c in items:
            c.close()
        self.db.close()
