"""KernelPool: sessions started ahead of time, each used by one caller once, then discarded."""

from __future__ import annotations

import logging
import threading

from qwen_agent.errors import ConfigurationError, SandboxError
from qwen_agent.interpreter.config import SandboxConfig
from qwen_agent.interpreter.session import KernelSession

logger = logging.getLogger(__name__)


class KernelPool:
    """Keeps `size` started sessions ready so that a new session's first call does not wait for a start.

    A session handed out by `acquire` is never handed out again: `release` closes it (kernel and work dir)
    and a fresh one is started in the background. `close()` kills every kernel the pool made, including
    sessions not yet released.

    Args:
        size: how many ready sessions to keep.
        sandbox: limits and isolation level of every kernel.
        font_family: CJK font for matplotlib (default: found on the host).
    """

    def __init__(self, size: int = 2, sandbox: SandboxConfig | None = None,
                 font_family: str | None = None) -> None:
        if not isinstance(size, int) or size < 0:
            raise ConfigurationError(f"KernelPool size must be a non-negative integer, got {size!r}")
        self.size = size
        self.sandbox = sandbox or SandboxConfig()
        self._font = font_family
        self._ready: list[KernelSession] = []
        self._out: set[KernelSession] = set()
        self._cond = threading.Condition()
        self._wanted = size
        self._closed = False
        self._error: BaseException | None = None
        self._filler = threading.Thread(target=self._fill, name="qwen-agent-kernel-pool", daemon=True)
        self._filler.start()

    def acquire(self, timeout: float | None = None) -> KernelSession:
        """A started session for one user. Starts one on the spot when none is ready within `timeout`."""
        with self._cond:
            self._check_open()
            if not self._ready and self.size > 0:
                self._cond.wait_for(lambda: self._ready or self._closed or self._error, timeout)
            self._check_open()
            session = self._ready.pop() if self._ready else None
            if session is not None:
                self._out.add(session)
                self._cond.notify_all()
        if session is None:  # none ready (size 0, still starting, or failing): start one here
            session = KernelSession(sandbox=self.sandbox, font_family=self._font).start()
            with self._cond:
                self._out.add(session)
        return session

    def release(self, session: KernelSession) -> None:
        """Give a session back: it is closed (never reused) and a fresh one starts in the background."""
        with self._cond:
            known = session in self._out
            self._out.discard(session)
        if not known:
            raise SandboxError("release() got a session this pool did not hand out (or released twice)")
        session.close()

    def close(self) -> None:
        """Kill every kernel of the pool (ready and handed out). Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            sessions = [*self._ready, *self._out]
            self._ready.clear()
            self._out.clear()
            self._cond.notify_all()
        self._filler.join()
        for session in sessions:
            session.close()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def ready_count(self) -> int:
        with self._cond:
            return len(self._ready)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until `size` sessions are ready; False on timeout. Raises the error if starting fails."""
        with self._cond:
            ok = self._cond.wait_for(lambda: len(self._ready) >= self.size or self._error or self._closed,
                                     timeout)
            if self._error is not None:
                raise SandboxError(f"the pool could not start kernels: {self._error}") from self._error
            return bool(ok) and len(self._ready) >= self.size

    def _check_open(self) -> None:
        if self._closed:
            raise SandboxError("this KernelPool is closed")

    def _fill(self) -> None:
        failures = 0
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or len(self._ready) < self.size)
                if self._closed:
                    return
            try:
                session = KernelSession(sandbox=self.sandbox, font_family=self._font).start()
            except Exception as exc:  # keep trying a few times, then report through acquire/wait_ready
                failures += 1
                logger.warning("kernel pool: start failed (%d): %s", failures, exc)
                if failures >= 3:
                    with self._cond:
                        self._error = exc
                        self._cond.notify_all()
                    return
                continue
            failures = 0
            with self._cond:
                if self._closed:
                    session.close()
                    return
                self._ready.append(session)
                self._cond.notify_all()
