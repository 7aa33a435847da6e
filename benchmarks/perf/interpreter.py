"""Code interpreter latency: our sandboxed sessions vs a bare jupyter_client round trip and Qwen-Agent's tool.

Run: python -m benchmarks.interpreter [--rounds 30] [--skip-qwen-agent] [--qwen-agent-python PATH]

Qwen-Agent is driven in a subprocess from its own virtualenv (its import name `qwen_agent` is ours too).
Qwen-Agent 0.0.32-0.0.34 run their code interpreter only inside Docker; 0.0.31 is the last release that
starts a local kernel, so that is the one measured. Create the virtualenv with:

    python -m venv /tmp/qwenagent-venv
    /tmp/qwenagent-venv/bin/pip install "qwen-agent[code-interpreter]==0.0.31"
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qwen_agent.interpreter import KernelPool, KernelSession, SandboxConfig

PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('plot')\nplt.show()"
DEFAULT_QA_PYTHON = "/tmp/qwenagent-venv/bin/python"

_QA_DRIVER = r"""
import json, sys, time, tempfile
rounds = int(sys.argv[1]); plot = sys.argv[2]
from qwen_agent.tools.code_interpreter import CodeInterpreter
work = tempfile.mkdtemp()
t = time.perf_counter()
tool = CodeInterpreter({"work_dir": work})
out = tool.call(json.dumps({"code": "print(1)"}))
first = time.perf_counter() - t
assert "1" in out, out
warm = []
for _ in range(rounds):
    t = time.perf_counter(); tool.call(json.dumps({"code": "print(1)"})); warm.append(time.perf_counter() - t)
plots = []
for _ in range(5):
    t = time.perf_counter(); out = tool.call(json.dumps({"code": plot})); plots.append(time.perf_counter() - t)
assert "![fig" in out, out
print(json.dumps({"first": first, "warm": warm, "plot": plots}))
"""


def _median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def _timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


class BareKernel:
    """A plain local kernel (no sandbox) driven the minimal way: execute, read iopub until idle."""

    def __init__(self, transport: str = "tcp") -> None:
        from jupyter_client import KernelManager

        self.runtime = tempfile.mkdtemp(prefix="qab-")
        extra = {"transport": "ipc", "ip": f"{self.runtime}/k"} if transport == "ipc" else {}
        self.km = KernelManager(kernel_name="python3", **extra)
        self.km.start_kernel()
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def print1(self) -> None:
        msg_id = self.kc.execute("print(1)")
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=10)
            except queue.Empty:
                raise RuntimeError("bare kernel did not answer") from None
            if (msg["parent_header"].get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"]["execution_state"] == "idle"):
                return

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)
        shutil.rmtree(self.runtime, ignore_errors=True)


def warm_round_trips(rounds: int) -> tuple[dict[str, list[float]], list[float], str]:
    """print(1) round trips, interleaved across kernels so that load on a shared machine hits all alike."""
    bare_tcp, bare_ipc = BareKernel("tcp"), BareKernel("ipc")
    boxed, plain = KernelSession(sandbox=SandboxConfig()), KernelSession(sandbox=SandboxConfig(level="none"))
    runners = {"bare_tcp": bare_tcp.print1, "bare_ipc": bare_ipc.print1,
               "sandbox": lambda: boxed.execute("print(1)"), "none": lambda: plain.execute("print(1)")}
    try:
        for run in runners.values():
            run()
        times: dict[str, list[float]] = {name: [] for name in runners}
        for _ in range(rounds):
            for name, run in runners.items():
                times[name] += _timed(run, 1)
        boxed.execute(PLOT)  # first plot imports matplotlib; measured plots are warm, as in the baseline
        plots = _timed(lambda: boxed.execute(PLOT), 5)
        return times, plots, boxed.sandbox_description
    finally:
        for closer in (bare_tcp.close, bare_ipc.close, boxed.close, plain.close):
            closer()


def ours_first_call(trials: int) -> tuple[list[float], list[float]]:
    """First call of a new session: from a warm pool, and cold (starting a kernel)."""
    pooled = []
    with KernelPool(size=1) as pool:
        for _ in range(trials):
            pool.wait_ready(timeout=60)
            t = time.perf_counter()
            s = pool.acquire()
            r = s.execute("print(1)")
            pooled.append(time.perf_counter() - t)
            assert r.stdout == "1\n"
            pool.release(s)
    return pooled, cold_first_call(trials, SandboxConfig())


def cold_first_call(trials: int, config: SandboxConfig) -> list[float]:
    """First call of a session that starts its own kernel."""
    cold = []
    for _ in range(trials):
        t = time.perf_counter()
        with KernelSession(sandbox=config) as s:
            s.execute("print(1)")
            cold.append(time.perf_counter() - t)
    return cold


def qwen_agent(python: str, rounds: int) -> dict[str, list[float] | float]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    with tempfile.TemporaryDirectory() as cwd:  # keep our qwen_agent off its sys.path
        done = subprocess.run([python, "-c", _QA_DRIVER, str(rounds), PLOT], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"Qwen-Agent driver failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=50, help="warm round trips per measurement")
    parser.add_argument("--trials", type=int, default=3, help="new sessions for the first-call figure")
    parser.add_argument("--skip-qwen-agent", action="store_true", help="do not measure Qwen-Agent")
    parser.add_argument("--qwen-agent-python", default=DEFAULT_QA_PYTHON)
    args = parser.parse_args(argv)

    qa = None
    if not args.skip_qwen_agent:
        if not Path(args.qwen_agent_python).exists():
            print(f"no Qwen-Agent virtualenv at {args.qwen_agent_python}; create it as the module docstring "
                  "says, or pass --skip-qwen-agent", file=sys.stderr)
            return 2
        qa = qwen_agent(args.qwen_agent_python, args.rounds)
    times, plots, level = warm_round_trips(args.rounds)
    warm, warm_plain, bare, bare_ipc = times["sandbox"], times["none"], times["bare_tcp"], times["bare_ipc"]
    pooled, cold = ours_first_call(args.trials)
    cold_plain = cold_first_call(args.trials, SandboxConfig(level="none"))

    print(f"sandbox in force: {level}; rounds={args.rounds}, trials={args.trials}")
    print(f"{'measure (median)':48s} {'ours':>10s} {'baseline':>10s} {'ours/base':>10s}")
    rows = [("warm print(1) round trip vs bare jupyter_client", _median_ms(warm), _median_ms(bare)),
            ("  the same vs bare jupyter_client over ipc", _median_ms(warm), _median_ms(bare_ipc)),
            ("warm round trip, sandbox vs no sandbox (ours)", _median_ms(warm), _median_ms(warm_plain)),
            ("cold first call, sandbox vs no sandbox (ours)", _median_ms(cold), _median_ms(cold_plain)),
            ("first call, pooled vs cold session (ours)", _median_ms(pooled), _median_ms(cold))]
    if qa is not None:
        rows += [("first call of a new session vs Qwen-Agent", _median_ms(pooled), qa["first"] * 1000),
                 ("warm print(1) round trip vs Qwen-Agent", _median_ms(warm), _median_ms(qa["warm"])),
                 ("matplotlib plot vs Qwen-Agent", _median_ms(plots), _median_ms(qa["plot"]))]
    for name, ours, base in rows:
        print(f"{name:48s} {ours:8.1f}ms {base:8.1f}ms {ours / base:10.3f}")
    warm_ratio = _median_ms(warm) / min(_median_ms(bare), _median_ms(bare_ipc))
    print(f"target warm round trip <= 1.5x bare jupyter_client (faster transport): {warm_ratio:.2f}x "
          f"({'met' if warm_ratio <= 1.5 else 'NOT met'})")
    if qa is not None:
        speedup = qa["first"] / statistics.median(pooled)
        print(f"target first call >= 10x faster than Qwen-Agent: {speedup:.0f}x "
              f"({'met' if speedup >= 10 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
