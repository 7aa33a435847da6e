"""MCP overhead, in one run: one tool call over stdio and over streamable HTTP against the same tool called
in-process, and the first call of `qwen-agent mcp-server`'s python tool against our in-process CodeInterpreter.

    python -m benchmarks.mcp_latency [--calls 200]

Medians. Cold: a new server (or kernel) started, then the first call. Warm first call: the server's tools listed
(its kernel pool had started meanwhile), then a session's first python call, against CodeInterpreter taking its
session from a started KernelPool.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from qwen_agent import tool
from qwen_agent.interpreter import KernelPool
from qwen_agent.tools.code_interpreter import CodeInterpreter
from qwen_agent.tools.mcp import MCPServerConfig, MCPToolset

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
ADD_SERVER = str(HERE / "mcp_add_server.py")
MCP_SERVER = ("-m", "qwen_agent.cli", "mcp-server", "--pool-size", "1")


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def interleaved_ms(fns: list[Callable[[], object]], n: int) -> list[float]:
    """Median ms of each function, called in turn n times (so that load on a shared machine hits all alike)."""
    times: list[list[float]] = [[] for _ in fns]
    for fn in fns:
        fn()  # warm-up
    for _ in range(n):
        for fn, kept in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            kept.append(time.perf_counter() - start)
    return [statistics.median(kept) * 1000 for kept in times]


def once_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


@contextlib.contextmanager
def http_add_server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, ADD_SERVER, "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not _listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the benchmark's HTTP MCP server did not start (exit status {proc.poll()})")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        proc.terminate()
        proc.wait(10)


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def tool_latency(calls: int) -> list[tuple[str, float, float]]:
    args = {"a": 2, "b": 3}
    with MCPToolset([MCPServerConfig("s", command=sys.executable, args=(ADD_SERVER,))]) as stdio, \
            http_add_server() as url, MCPToolset([MCPServerConfig("h", url=url)]) as http:
        over_stdio, over_http = stdio.tools()[0], http.tools()[0]
        over_stdio, over_http, direct = interleaved_ms(
            [lambda: over_stdio.call(args), lambda: over_http.call(args), lambda: add.call(args)], calls)
    return [("tool call over stdio vs in-process", over_stdio, direct),
            ("tool call over streamable HTTP vs in-process", over_http, direct)]


def mcp_python(name: str) -> MCPToolset:
    env = {"PYTHONPATH": os.environ.get("PYTHONPATH", str(REPO))}
    return MCPToolset([MCPServerConfig(name, command=sys.executable, args=MCP_SERVER, env=env, cwd=str(REPO))])


def python_latency(calls: int) -> list[tuple[str, float, float]]:
    code = {"code": "print(1)"}
    with mcp_python("cold") as cold:
        mcp_cold = once_ms(lambda: cold.tools()[0].call(code))
    with CodeInterpreter() as local:
        local_cold = once_ms(lambda: local.call(code))
    with mcp_python("warm") as warm, KernelPool(size=1) as pool:
        python = warm.tools()[0]
        pool.wait_ready(timeout=60)
        time.sleep(3)  # the server's pool starts its kernel meanwhile, as ours did
        mcp_first = once_ms(lambda: python.call(code))
        with CodeInterpreter(pool=pool) as local:
            local_first = once_ms(lambda: local.call(code))
            mcp_warm, local_warm = interleaved_ms([lambda: python.call(code), lambda: local.call(code)], calls // 4)
    return [("python, cold: start + first call, mcp-server vs CodeInterpreter", mcp_cold, local_cold),
            ("python, first call of a session (pool warm), mcp-server vs CodeInterpreter", mcp_first, local_first),
            ("python, warm print(1), mcp-server vs CodeInterpreter", mcp_warm, local_warm)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    rows = tool_latency(args.calls) + python_latency(args.calls)
    print(f"{'measure':<78} {'MCP':>11} {'baseline':>11} {'ratio':>8}")
    for label, ours, base in rows:
        print(f"{label:<78} {ours:>8.3f} ms {base:>8.3f} ms {ours / base:>7.1f}x")


if __name__ == "__main__":
    main()
