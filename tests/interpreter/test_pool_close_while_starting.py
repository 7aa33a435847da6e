"""Closing a KernelPool while a kernel is still starting leaves no kernel behind (a refill, or a start inside
`acquire`). The starts are slowed on purpose by an interpreter that waits before running Python."""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

import pytest

from qwen_agent.errors import SandboxError
from qwen_agent.interpreter import KernelPool, KernelSession, SandboxConfig
from tests.processes import alive, cmdline, descendants

pytestmark = pytest.mark.kernel


SLOW = 60  # seconds a slowed start sleeps: far longer than a close that kills it may take, even under load


def _slow_python(tmp_path: Path) -> tuple[str, Path]:
    """An interpreter that runs Python as its child, after sleeping `SLOW` s while the returned flag file exists.
    It stays the parent of every kernel started with it, so its path (unique to the test) marks their processes."""
    flag = tmp_path / "slow"
    path = tmp_path / "slow-python"
    path.write_text(f'#!/bin/sh\nif [ -e "{flag}" ]; then sleep {SLOW}; fi\n"{sys.executable}" "$@"\n')
    path.chmod(0o755)
    return str(path), flag


def _marked(marker: str) -> list[int]:
    """Live processes whose command line holds `marker`, and everything below them."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    tops = [pid for pid in pids if marker in cmdline(pid) and alive(pid)]
    return [p for top in tops for p in (top, *descendants(top)) if alive(p)]


def _until(condition, seconds: float = 120.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def _gone(pids: list[int]) -> bool:
    """Every pid dead (a killed process is reaped by its parent or init a moment after SIGKILL)."""
    return _until(lambda: not any(alive(p) for p in pids), 10)


def test_closing_during_a_refill_kills_the_kernel_being_started(tmp_path):
    marker, slow = _slow_python(tmp_path)
    pool = KernelPool(size=1, sandbox=SandboxConfig(python=marker, startup_timeout=240))
    try:
        assert pool.wait_ready(timeout=240)
        slow.touch()
        pool.acquire()  # the pool refills: a second kernel starts, slowly
        assert _until(lambda: any("sleep" in cmdline(p) for p in _marked(marker)))  # the refill is mid-start
        doomed = _marked(marker)
        started = time.monotonic()
    finally:
        pool.close()
    assert time.monotonic() - started < SLOW / 2  # killed mid-start, not waited for
    assert _gone(doomed)
    assert _marked(marker) == []
    assert not pool._filler.is_alive()  # the thread that refills has ended: nothing can start a kernel later


def test_closing_while_acquire_starts_a_kernel_kills_it_and_acquire_says_closed(tmp_path):
    marker, slow = _slow_python(tmp_path)
    slow.touch()
    pool = KernelPool(size=0, sandbox=SandboxConfig(python=marker, startup_timeout=240))
    outcome: list[object] = []

    def take() -> None:
        try:
            outcome.append(pool.acquire())
        except SandboxError as exc:
            outcome.append(exc)

    taker = threading.Thread(target=take)
    taker.start()
    assert _until(lambda: any("sleep" in cmdline(p) for p in _marked(marker)))  # acquire's start is under way
    doomed = _marked(marker)
    pool.close()
    taker.join(timeout=240)
    assert not taker.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], SandboxError) and "closed" in str(outcome[0])
    assert _gone(doomed)
    assert _marked(marker) == []


def test_closing_a_session_while_it_starts_kills_its_kernel_and_start_says_closed(tmp_path):
    marker, slow = _slow_python(tmp_path)
    slow.touch()
    session = KernelSession(sandbox=SandboxConfig(python=marker, startup_timeout=240))
    outcome: list[BaseException | None] = []

    def start() -> None:
        try:
            session.start()
            outcome.append(None)
        except SandboxError as exc:
            outcome.append(exc)

    starter = threading.Thread(target=start)
    starter.start()
    assert _until(lambda: any("sleep" in cmdline(p) for p in _marked(marker)))
    doomed = _marked(marker)
    session.close()
    starter.join(timeout=240)
    assert len(outcome) == 1 and isinstance(outcome[0], SandboxError) and "closed" in str(outcome[0])
    assert _gone(doomed)
    assert _marked(marker) == [] and not session.work_dir.exists()
