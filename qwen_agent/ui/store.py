"""The conversations the UI server holds, by id. In memory: a restarted server starts empty, and the page
says so and opens a new conversation."""

from __future__ import annotations

import secrets
import threading

from qwen_agent.agent import Agent
from qwen_agent.ui.conversation import Conversation


class ConversationStore:
    """Creates, finds and closes conversations; beyond `limit`, the least recently used idle one is closed."""

    def __init__(self, template: Agent, limit: int = 32) -> None:
        self.template = template
        self.limit = limit
        self._model_lock = threading.Lock()
        self._lock = threading.Lock()
        self._items: dict[str, Conversation] = {}

    def create(self) -> Conversation:
        conv = Conversation(secrets.token_urlsafe(16), self.template, self._model_lock)
        with self._lock:
            self._items[conv.id] = conv
            evicted = self._over_limit()
        for old in evicted:
            old.close()
        return conv

    def get(self, cid: str) -> Conversation | None:
        with self._lock:
            return self._items.get(cid)

    def _over_limit(self) -> list[Conversation]:
        idle = sorted((c for c in self._items.values() if not c.running), key=lambda c: c.last_used)
        evicted = idle[: max(0, len(self._items) - self.limit)]
        for c in evicted:
            del self._items[c.id]
        return evicted

    def close(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        for c in items:
            c.close()
