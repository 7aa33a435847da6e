"""Letting go of a memory-mapped checkpoint's pages once their weights have been converted (Linux).

transformers maps a safetensors checkpoint into memory, and every page a process reads stays in its RSS while
the file is mapped. Quantizing reads each weight once, so an int8 load used to hold the whole bf16 file (1 GB
for Qwen2.5-0.5B) beside the new int8 weights. `CheckpointPages.release(tensor)` asks the kernel to reclaim the
pages under a tensor at once (`madvise(MADV_PAGEOUT)`, Linux 5.4+) when they belong to a mapped file. Clean
file pages are simply dropped and read back from the file if touched again, so nothing is lost even if the
tensor is still in use (a tied embedding). Anonymous memory is never advised: without swap the call would do
nothing, with swap it would write out memory about to be freed. Pages that another process maps too (the
same checkpoint loaded twice) are left where they are by the kernel; they cost no second copy anyway.
"""

from __future__ import annotations

import bisect
import ctypes
import ctypes.util
import errno
import mmap
import sys
from pathlib import Path
from typing import Any

MADV_PAGEOUT = 21  # linux/mman.h


def file_backed_ranges(maps: str) -> list[tuple[int, int]]:
    """(start, end) of each mapping of a regular file in a /proc/<pid>/maps text, sorted by start."""
    ranges = []
    for line in maps.splitlines():
        fields = line.split(maxsplit=5)
        # address perms offset dev inode [path]: inode 0 is anonymous; "[heap]", "[stack]" ... are not files
        if len(fields) == 6 and fields[4] != "0" and fields[5].startswith("/"):
            start, end = (int(x, 16) for x in fields[0].split("-"))
            ranges.append((start, end))
    return sorted(ranges)


class CheckpointPages:
    """The file mappings of this process when created; `release` pages out a tensor's share of them."""

    def __init__(self) -> None:
        self._madvise: Any = None
        self._ranges: list[tuple[int, int]] = []
        if sys.platform.startswith("linux"):
            try:
                self._ranges = file_backed_ranges(Path("/proc/self/maps").read_text())
                madvise = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).madvise
            except (OSError, AttributeError):  # no /proc (a locked-down sandbox) or no madvise: a plain load
                self._ranges = []
            else:
                madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
                self._madvise = madvise
        self._starts = [start for start, _ in self._ranges]

    def release(self, tensor: Any) -> int:
        """Page out the whole pages inside `tensor`'s bytes that lie in a mapped file; returns how many bytes
        were advised (0 off Linux, for anonymous memory, or where the kernel refuses: before 5.4)."""
        if self._madvise is None or tensor.device.type != "cpu":
            return 0
        begin = tensor.data_ptr()
        end = begin + tensor.numel() * tensor.element_size()
        i = bisect.bisect_right(self._starts, begin) - 1
        if i < 0 or end > self._ranges[i][1]:  # not inside one file mapping
            return 0
        page = mmap.PAGESIZE
        first, last = -(-begin // page) * page, end // page * page  # whole pages only: neighbours untouched
        if last <= first:
            return 0
        if self._madvise(first, last - first, MADV_PAGEOUT) != 0:
            if ctypes.get_errno() == errno.EINVAL:  # a kernel before 5.4: stop asking
                self._madvise = None
            return 0
        return last - first
