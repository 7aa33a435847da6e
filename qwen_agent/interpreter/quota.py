"""The total disk quota of one kernel session: bytes and file count under its work dir and private /tmp.

Measured by the host (the code in the kernel cannot see or stop the watcher, and its limits are not in the
kernel's environment): before each execution, every `INTERVAL` seconds while it runs, and when it ends. Growth
past the quota interrupts the execution (and, if it ignores the interrupt, replaces the kernel, as a timeout
does; growth after the interrupt had SETTLE seconds to land replaces the kernel at once). RLIMIT_FSIZE, set inside the sandbox to at most the quota, caps each single file as a hard backstop, so the
overshoot between two checks is bounded by what the code can write in `INTERVAL` seconds.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

INTERVAL = 0.1  # seconds between checks while code runs (longer when a scan is slow)
SETTLE = 0.3  # seconds an interrupt has to land before further growth replaces the kernel


@dataclass(frozen=True)
class DiskUsage:
    bytes: int
    files: int

    def grew_from(self, other: DiskUsage) -> bool:
        return self.bytes > other.bytes or self.files > other.files


@dataclass(frozen=True)
class DiskQuota:
    """At most `max_bytes` on disk in at most `max_files` entries (files, directories, links)."""

    max_bytes: int
    max_files: int

    def measure(self, roots: list[Path]) -> DiskUsage:
        """Usage under `roots`, never following symlinks; stops counting soon after passing a limit."""
        total, count = 0, 0
        stack = [str(r) for r in roots if r.is_dir() and not r.is_symlink()]
        while stack and total <= self.max_bytes * 2 and count <= self.max_files * 2:
            try:
                with os.scandir(stack.pop()) as entries:
                    for entry in entries:
                        try:
                            info = entry.stat(follow_symlinks=False)
                        except OSError:
                            continue  # removed while we looked
                        count += 1
                        total += max(info.st_blocks * 512, 0) if stat.S_ISREG(info.st_mode) else 0
                        if stat.S_ISDIR(info.st_mode):
                            stack.append(entry.path)
            except OSError:
                continue
        return DiskUsage(total, count)

    def exceeded(self, usage: DiskUsage) -> bool:
        return usage.bytes > self.max_bytes or usage.files > self.max_files

    def message(self, usage: DiskUsage, stopped: bool) -> str:
        what = (f"The session's disk quota is exceeded: {_mb(usage.bytes)} in {usage.files} files and directories "
                f"(limit {_mb(self.max_bytes)}, {self.max_files} entries; work dir and /tmp together).")
        then = " The execution was stopped." if stopped else ""
        return what + then + " Delete files you no longer need before writing more."


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.1f} MB"
