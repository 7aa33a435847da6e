"""A synchronous facade over one background asyncio event loop (the MCP SDK is async, anyio on asyncio).

The core is written once, async; callers block on `LoopThread.run(coro, deadline)`. The deadline is measured
with `time.monotonic()` in the calling thread: at the deadline the coroutine is cancelled in the loop and the
caller gets `TimeoutError` at once, whatever the coroutine was doing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class LoopThread:
    """One daemon thread running one event loop until `close()`.

    Processes started from this loop are forked by this thread, which lives as long as the loop: a
    parent-death signal armed in a child fires only when its forking thread ends.
    """

    def __init__(self, name: str = "qwen-agent-mcp-loop") -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_forever()

    @property
    def closed(self) -> bool:
        return self._loop.is_closed() or not self._thread.is_alive()

    def run(self, coro: Coroutine[Any, Any, T], deadline: float | None = None) -> T:
        """Run `coro` in the loop; block until done or until `deadline` (a `time.monotonic()` value)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("LoopThread.run called from its own loop: await the coroutine instead")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return future.result(remaining)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError from None

    def close(self, timeout: float = 10.0) -> None:
        """Cancel what still runs, stop the loop and join the thread."""
        if self._loop.is_closed():
            return
        if self._thread.is_alive():
            with_cancel = asyncio.run_coroutine_threadsafe(_cancel_others(), self._loop)
            with contextlib.suppress(concurrent.futures.TimeoutError, RuntimeError):
                with_cancel.result(timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
        if not self._thread.is_alive():
            self._loop.close()


async def _cancel_others() -> None:
    me = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not me]
    for t in tasks:
        t.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=5)
