"""Reading processes from /proc, for the tests that check nothing is left running (kernels, MCP servers)."""

from __future__ import annotations

import os
from pathlib import Path


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
