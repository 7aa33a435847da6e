"""Bridges between blocking code and asyncio, written once for the LLM, tool and agent layers.

Blocking work runs in daemon threads, not in asyncio's default executor: that executor's threads are joined at
interpreter exit, so one hung tool would keep the process from ending. A thread cannot be killed; when its
awaiter gives up (deadline, cancellation) the thread's late result is dropped and the caller may ask the work
to stop (a stop flag for streams, `Tool.interrupt` for tools).

Work handed to another thread or loop runs in a copy of the caller's context variables (as
`asyncio.to_thread` does), so a trace's current span reaches the tool or model call made there.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


async def in_thread(fn: Callable[..., T], *args: Any, lock: AbstractContextManager[Any] | None = None,
                    name: str = "qwen-agent-worker") -> T:
    """`fn(*args)` in a daemon thread (under `lock` when given), awaited without blocking the loop."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    guard = lock if lock is not None else nullcontext()
    context = contextvars.copy_context()

    def target() -> None:
        try:
            with guard:
                if future.cancelled():  # given up while waiting for the lock: do not start the work
                    return
                result = context.run(fn, *args)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiter, whatever it is
            _settle(loop, future, e, failed=True)
        else:
            _settle(loop, future, result, failed=False)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def _settle(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], value: Any, *, failed: bool) -> None:
    def settle() -> None:
        if not future.done():  # the awaiter may have been cancelled or timed out
            (future.set_exception if failed else future.set_result)(value)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits for this result any more
        loop.call_soon_threadsafe(settle)


async def iterate_in_thread(make: Callable[[], Iterator[T]], *, lock: AbstractContextManager[Any] | None = None,
                            name: str = "qwen-agent-stream", window: int = 16) -> AsyncIterator[T]:
    """Items of the blocking iterator `make()`, produced in a daemon thread (holding `lock` throughout).

    The thread runs at most `window` items ahead of the consumer. When the consumer stops early (break,
    cancellation), the thread stops at the next item and closes the iterator, so a backend stops generating."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stop = threading.Event()
    slots = threading.Semaphore(window)
    guard = lock if lock is not None else nullcontext()
    context = contextvars.copy_context()

    def wait_for_slot() -> bool:
        while not slots.acquire(timeout=0.05):
            if stop.is_set():
                return False
        return not stop.is_set()

    def put(item: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the loop is closed
            stop.set()

    def pump() -> None:
        try:
            with guard:
                if stop.is_set():  # the consumer left while waiting for the lock
                    return
                source = make()
                try:
                    for item in source:
                        if not wait_for_slot():
                            break
                        put((item, None))
                finally:
                    getattr(source, "close", lambda: None)()
        except BaseException as e:  # noqa: BLE001 - re-raised in the consumer
            put((_END, e))
        else:
            put((_END, None))

    threading.Thread(target=context.run, args=(pump,), name=name, daemon=True).start()
    try:
        while True:
            item, error = await queue.get()
            slots.release()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()


class HomeThread:
    """One long-lived daemon thread that runs blocking calls one at a time, in order.

    For work tied to the thread that began it: a kernel started with a parent-death signal dies when the thread
    that forked it ends (so a short-lived worker would take the kernel with it), and some clients' sockets
    should stay on one thread. Start it lazily; `close()` lets the thread end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        context = contextvars.copy_context()

        def job() -> None:
            if future.cancelled():  # the awaiter gave up before the job's turn came
                return
            try:
                result = context.run(fn, *args)
            except BaseException as e:  # noqa: BLE001 - handed to the awaiter
                _settle(loop, future, e, failed=True)
            else:
                _settle(loop, future, result, failed=False)

        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name=self.name, daemon=True)
                self._thread.start()
        self._jobs.put(job)
        return await future

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def close(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._jobs.put(None)
                self._thread = None


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run the coroutine `make()` to completion from blocking code, even where this thread already runs an
    event loop (a Jupyter cell, a sync method called from a FastAPI handler), which cannot be re-entered.

    It runs on one background loop shared by the process (started on first use; a fresh `asyncio.run` per
    call costs ~0.25 ms), or, when called from that loop's own thread, on a fresh loop in a helper thread.
    The caller blocks while it runs: from async code, await the async method instead.
    """
    loop = _background_loop()
    context = contextvars.copy_context()
    if threading.current_thread() is _background.thread:  # a coroutine on it cannot wait for itself
        return _run_in_fresh_thread(make, context)
    future = asyncio.run_coroutine_threadsafe(_call(make, context), loop)
    try:
        return future.result()
    except BaseException:
        future.cancel()  # e.g. Ctrl-C while waiting: the work is cancelled too
        raise


class _Background:
    lock = threading.Lock()
    loop: asyncio.AbstractEventLoop | None = None
    thread: threading.Thread | None = None


_background = _Background()


def _background_loop() -> asyncio.AbstractEventLoop:
    with _background.lock:
        if _background.loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="qwen-agent-sync-loop", daemon=True)
            thread.start()
            _background.loop, _background.thread = loop, thread
        return _background.loop


def _run_in_fresh_thread(make: Callable[[], Coroutine[Any, Any, T]], context: contextvars.Context) -> T:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = asyncio.run(_call(make, context))
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e

    thread = threading.Thread(target=target, name="qwen-agent-run-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


async def _call(make: Callable[[], Awaitable[T]], context: contextvars.Context) -> T:
    for var, value in context.items():  # this task runs in its own copy: the caller's values, not shared
        var.set(value)
    return await make()


__all__ = ["HomeThread", "in_thread", "iterate_in_thread", "run_sync"]
