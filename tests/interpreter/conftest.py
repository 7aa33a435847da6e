"""Fixtures for kernel tests: one shared session where isolation is not the point."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from qwen_agent.interpreter import KernelSession, SandboxConfig


@pytest.fixture(scope="module")
def session():
    with KernelSession(sandbox=SandboxConfig(interrupt_grace=1.0)) as s:
        yield s


def descendants(pid: int) -> list[int]:
    """All live descendants of `pid`, read from /proc (children files)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                kids = [int(k) for k in (task / "children").read_text().split()]
            except OSError:
                continue
            found += kids
            stack += kids
    return found


def kernel_pid(session: KernelSession) -> int:
    """The host pid of the ipykernel process of `session` (the deepest python below the sandbox)."""
    pids = [session._kernel.proc.pid, *descendants(session._kernel.proc.pid)]
    kernels = [p for p in pids if "ipykernel_launcher" in _cmdline(p)]
    assert kernels, f"no ipykernel among {pids}"
    return kernels[-1]


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # zombies count as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


__all__ = ["alive", "descendants", "kernel_pid", "signal"]
