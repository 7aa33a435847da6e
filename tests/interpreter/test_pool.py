"""KernelPool: ready sessions, no reuse across users, no orphans (also when the owner is SIGKILLed)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qwen_agent.errors import ConfigurationError, SandboxError
from qwen_agent.interpreter import KernelPool, KernelSession

from .conftest import alive, kernel_pid

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parents[2]


def test_pool_hands_out_ready_sessions_and_never_reuses_them():
    with KernelPool(size=1) as pool:
        assert pool.wait_ready(timeout=60)
        first = pool.acquire()
        assert first._kernel is not None and first._kernel.alive()  # started before it was asked for
        first.execute("user_secret = 'alice'")
        first_pid, first_dir = kernel_pid(first), first.work_dir
        pool.release(first)
        assert not first_dir.exists()
        deadline = time.monotonic() + 5
        while alive(first_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(first_pid)  # a used kernel is discarded
        second = pool.acquire(timeout=60)
        assert second is not first and second.work_dir != first_dir
        r = second.execute("user_secret")
        assert r.status == "error" and r.error.ename == "NameError"
        pool.release(second)


def test_pool_close_kills_ready_and_handed_out_kernels():
    pool = KernelPool(size=1)
    assert pool.wait_ready(timeout=60)
    out = pool.acquire()
    assert pool.wait_ready(timeout=60)
    pids = [kernel_pid(out), kernel_pid(pool._ready[0])]
    pool.close()
    pool.close()  # idempotent
    deadline = time.monotonic() + 5
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(p) for p in pids)
    with pytest.raises(SandboxError):
        pool.acquire()


def test_pool_rejects_bad_use():
    with pytest.raises(ConfigurationError):
        KernelPool(size=-1)
    with KernelPool(size=0) as pool, KernelSession() as stranger:
        with pytest.raises(SandboxError):
            pool.release(stranger)
        session = pool.acquire()  # size 0: started on demand
        assert session.execute("1").result == "1"
        pool.release(session)
        with pytest.raises(SandboxError):
            pool.release(session)  # twice


_OWNER = """
import json, sys, time
from qwen_agent.interpreter import KernelPool, KernelSession
pool = KernelPool(size=2)
assert pool.wait_ready(timeout=60)
extra = KernelSession().start()
print(json.dumps([s._kernel.proc.pid for s in pool._ready] + [extra._kernel.proc.pid]), flush=True)
time.sleep(600)
"""


@pytest.mark.slow
def test_kernels_die_when_their_owner_is_killed():
    owner = subprocess.Popen([sys.executable, "-c", _OWNER], cwd=REPO, stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        sandbox_pids = json.loads(owner.stdout.readline())
        from .conftest import descendants

        pids = sandbox_pids + [d for p in sandbox_pids for d in descendants(p)]
        assert len(pids) >= 3 and all(alive(p) for p in pids)
    finally:
        owner.send_signal(signal.SIGKILL)
        owner.wait()
    deadline = time.monotonic() + 10
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if alive(p)] == []
