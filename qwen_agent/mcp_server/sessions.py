"""One sandboxed kernel session per MCP session, taken from a pool, closed when the MCP session ends."""

from __future__ import annotations

import threading
import weakref
from typing import Any

from qwen_agent.interpreter import KernelPool, KernelSession, SandboxConfig


class KernelSessions:
    """Maps MCP sessions (any weak-referenceable object, the SDK's `ServerSession`) to kernel sessions.

    A kernel is taken from the pool on the session's first `python` call and given back (discarded) when the
    MCP session object goes away (an HTTP session ended or timed out, stdio closed) or on `close()`.
    """

    def __init__(self, sandbox: SandboxConfig | None = None, pool_size: int = 1) -> None:
        self.pool = KernelPool(size=pool_size, sandbox=sandbox)
        self._kernels: dict[int, tuple[KernelSession, threading.Lock]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def get(self, owner: Any) -> tuple[KernelSession, threading.Lock]:
        """The kernel of `owner` and the lock that serialises its calls (started on first use)."""
        key = id(owner)
        with self._lock:
            if self._closed:
                raise RuntimeError("the MCP server is shutting down")
            if key in self._kernels:
                return self._kernels[key]
        kernel = self.pool.acquire()
        with self._lock:
            entry = self._kernels.setdefault(key, (kernel, threading.Lock()))
        if entry[0] is not kernel:  # a concurrent first call won
            self.pool.release(kernel)
        else:
            weakref.finalize(owner, self.release, key)
        return entry

    def release(self, key: int) -> None:
        with self._lock:
            entry = self._kernels.pop(key, None)
        if entry is not None:
            self.pool.release(entry[0])

    @property
    def active(self) -> int:
        return len(self._kernels)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            keys = list(self._kernels)
        for key in keys:
            self.release(key)
        self.pool.close()
