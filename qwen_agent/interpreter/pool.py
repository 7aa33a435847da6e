"""KernelPool: sessions started ahead of time, each used by one caller once, then discarded."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from qwen_agent.errors import ConfigurationError, SandboxError
from qwen_agent.interpreter.config import SandboxConfig
from qwen_agent.interpreter.session import KernelSession

logger = logging.getLogger(__name__)


class KernelPool:
    """Keeps `size` started sessions ready so that a new session's first call does not wait for a start.

    A session handed out by `acquire` is never handed out again: `release` closes it (kernel and work dir)
    and a fresh one is started in the background. `close()` kills every kernel the pool made, including
    sessions not yet released and kernels still starting (a refill, or a start inside `acquire`).

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
        self._starting: set[KernelSession] = set()  # being started, by the filler or by `acquire`
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
            session = self._start_session()
            if not self._file(session, self._out.add):
                self._check_open()
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
        """Kill every kernel of the pool (ready, handed out, or still starting); when it returns, none is left
        and none will start. Idempotent."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            sessions = [*self._ready, *self._out]
            starting = list(self._starting)
            self._ready.clear()
            self._out.clear()
            self._cond.notify_all()
        for session in starting:  # kills a kernel mid-start; its starter sees the pool closed and stops
            session.close()
        self._filler.join()
        for session in sessions:
            session.close()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
                session = self._start_session()
            except Exception as exc:  # keep trying a few times, then report through acquire/wait_ready
                if self._closed:
                    return
                failures += 1
                logger.warning("kernel pool: start failed (%d): %s", failures, exc)
                if failures >= 3:
                    with self._cond:
                        self._error = exc
                        self._cond.notify_all()
                    return
                continue
            failures = 0
            if not self._file(session, self._ready.append):
                return

    def _start_session(self) -> KernelSession:
        """A started session, in `_starting` (where `close` sees it) until the caller files it with `_file`.
        Raises SandboxError when the pool closes meanwhile; the session is closed then."""
        session = KernelSession(sandbox=self.sandbox, font_family=self._font)
        with self._cond:
            closed = self._closed
            if not closed:
                self._starting.add(session)
        if closed:
            session.close()
            self._check_open()
        try:
            session.start()
        except BaseException:
            with self._cond:
                self._starting.discard(session)
            session.close()
            self._check_open()  # closed while starting: say that, rather than the start's own error
            raise
        return session

    def _file(self, session: KernelSession, add: Callable[[KernelSession], None]) -> bool:
        """Move a started session out of `_starting` with `add` (into `_ready` or `_out`); False when the pool
        has closed meanwhile (the session is closed then)."""
        with self._cond:
            self._starting.discard(session)
            filed = not self._closed
            if filed:
                add(session)
                self._cond.notify_all()
        if not filed:
            session.close()
        return filed
