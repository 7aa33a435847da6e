"""Reading processes from /proc, for the tests that check nothing is left running (kernels, MCP servers), and
waiting for a server process to answer."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any


def cmdline(pid: int) -> str:
    """The process's command line with spaces between the arguments; "" when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # zombies count as dead
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


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


def wait_for_openai_server(client: Any, proc: subprocess.Popen, timeout: float) -> None:
    """Waits until the OpenAI-compatible server behind `client` lists its models (raises when `proc` died or
    `timeout` seconds passed)."""
    import openai

    deadline = time.monotonic() + timeout
    while True:
        try:
            client.models.list()
            return
        except openai.APIConnectionError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise
            time.sleep(0.2)
