"""Fixtures for kernel tests: one shared session where isolation is not the point."""

from __future__ import annotations

import signal

import pytest

from qwen_agent.interpreter import KernelSession, SandboxConfig
from tests.processes import alive, cmdline, descendants  # noqa: F401 (alive is re-exported to the tests)


@pytest.fixture(scope="module")
def session():
    with KernelSession(sandbox=SandboxConfig(interrupt_grace=1.0)) as s:
        yield s


def kernel_pid(session: KernelSession) -> int:
    """The host pid of the ipykernel process of `session` (the deepest python below the sandbox)."""
    pids = [session._kernel.proc.pid, *descendants(session._kernel.proc.pid)]
    kernels = [p for p in pids if "ipykernel_launcher" in cmdline(p)]
    assert kernels, f"no ipykernel among {pids}"
    return kernels[-1]


__all__ = ["alive", "descendants", "kernel_pid", "signal"]
