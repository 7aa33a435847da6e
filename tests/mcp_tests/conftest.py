"""Fixtures for the MCP tests: real servers (our demo server written with the SDK, hostile raw servers,
`@modelcontextprotocol/server-everything` from npm) started as subprocesses or on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import alive, cmdline, descendants  # noqa: F401 (re-exported to the tests)

pytest.importorskip("mcp", reason="the MCP tests need the 'mcp' extra: pip install 'qwen_agent[mcp]'")

from qwen_agent.tools.mcp import MCPServerConfig  # noqa: E402

HERE = Path(__file__).resolve().parent
DEMO = str(HERE / "demo_server.py")
HOSTILE = str(HERE / "hostile_server.py")
EVERYTHING = "mcp-server-everything"


def demo_config(name: str = "demo", **kwargs) -> MCPServerConfig:
    return MCPServerConfig(name, command=sys.executable, args=(DEMO,), **kwargs)


def hostile_config(mode: str, *extra: str, **kwargs) -> MCPServerConfig:
    return MCPServerConfig(mode, command=sys.executable, args=(HOSTILE, mode, *extra), **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout} s")


@contextlib.contextmanager
def http_server(argv: list[str], port: int, env: dict | None = None):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})
    try:
        wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def demo_http_url():
    port = free_port()
    with http_server([sys.executable, DEMO, "http", str(port)], port):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module")
def demo_sse_url():
    port = free_port()
    with http_server([sys.executable, DEMO, "sse", str(port)], port):
        yield f"http://127.0.0.1:{port}/sse"


def everything_or_fail() -> str:
    """The reference server's command. CI installs it (.ci/run sets QWEN_AGENT_REQUIRE_MCP_EVERYTHING=1), so
    there its absence is a failure; elsewhere the tests skip, saying how to install it."""
    path = shutil.which(EVERYTHING)
    if path:
        return path
    how = "npm install -g @modelcontextprotocol/server-everything"
    if os.environ.get("QWEN_AGENT_REQUIRE_MCP_EVERYTHING"):
        pytest.fail(f"{EVERYTHING} is not on PATH but CI should have installed it ({how})")
    pytest.skip(f"{EVERYTHING} is not installed ({how})")


def mcp_processes() -> list[int]:
    """Live processes below this test process that belong to MCP servers (supervisors and servers)."""
    marks = ("_supervisor.py", "demo_server.py", "hostile_server.py", EVERYTHING)
    return [p for p in descendants(os.getpid()) if alive(p) and any(m in cmdline(p) for m in marks)]


def wait_gone(pids: list[int], timeout: float = 10) -> list[int]:
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if alive(p)]
