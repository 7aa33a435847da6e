"""One model, many clients: every call to the LLM runs on a single worker thread, in arrival order.

A local model (one GPU, one KV cache) must never see two requests interleaved; a remote backend loses
little by being serialised here too. Non-streamed requests that wait together with the same stop strings
and settings run as one batch when the backend has `generate_batch` (TransformersLLM does). Streamed generation runs on the worker thread and feeds an asyncio
queue, so the event loop keeps serving other connections while tokens are produced. A client that goes
away stops its generation at the next chunk. Chunks that pile up while a client is slow are sent merged;
past `stream_buffer` of them the model thread waits for that client, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig

_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


@dataclass
class _Job:
    prompt: Prompt
    stop: tuple[str, ...]
    config: GenerationConfig
    future: asyncio.Future[Generation]
    loop: asyncio.AbstractEventLoop

    def deliver(self, result: Generation | None, error: BaseException | None = None) -> None:
        def settle() -> None:
            if self.future.done():  # the client went away
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(result)  # type: ignore[arg-type]

        with contextlib.suppress(RuntimeError):  # the event loop is gone
            self.loop.call_soon_threadsafe(settle)


def take_batch(pending: list[_Job], can_batch: bool, max_batch: int) -> list[_Job]:
    """Remove and return the next jobs to run: the oldest, plus (when batching) the waiting jobs that share
    its stop strings and settings, up to `max_batch`."""
    if not pending:
        return []
    head = pending[0]
    group = [head]
    if can_batch:
        group += [j for j in pending[1:] if j.stop == head.stop and j.config == head.config][: max_batch - 1]
    for job in group:
        pending.remove(job)
    return group


class ModelWorker:
    """Serialises calls to `llm` on one thread. `close()` stops accepting work.

    Args:
        llm: the backend.
        max_batch: most non-streamed requests run together when the backend has `generate_batch`.
        stream_buffer: most undelivered chunks of one stream before the model thread waits for its client.
    """

    def __init__(self, llm: LLM, *, max_batch: int = 8, stream_buffer: int = 4096) -> None:
        self.llm = llm
        self.max_batch = max_batch
        self.stream_buffer = stream_buffer
        self.batch_sizes: list[int] = []  #: size of every generate call made, for monitoring
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwen-agent-model")
        self._pending: list[_Job] = []
        self._lock = threading.Lock()

    async def generate(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig) -> Generation:
        loop = asyncio.get_running_loop()
        job = _Job(prompt, tuple(stop), config, loop.create_future(), loop)
        with self._lock:
            self._pending.append(job)
        self._executor.submit(self._run_pending)
        return await job.future

    def _run_pending(self) -> None:
        """On the worker thread: run the oldest waiting job, batched with its like when the backend can."""
        batch_fn = getattr(self.llm, "generate_batch", None)
        with self._lock:
            self._pending[:] = [j for j in self._pending if not j.future.cancelled()]  # clients gone
            group = take_batch(self._pending, callable(batch_fn), self.max_batch)
        if not group:
            return  # an earlier call already ran this job as part of a batch
        self.batch_sizes.append(len(group))
        head = group[0]
        try:
            if len(group) == 1:
                results = [self.llm.generate(head.prompt, stop=list(head.stop), config=head.config)]
            else:
                results = batch_fn([j.prompt for j in group], stop=list(head.stop), config=head.config)  # type: ignore[misc]
        except BaseException as e:  # noqa: BLE001 - each waiting request gets the error
            for job in group:
                job.deliver(None, e)
            return
        for job, result in zip(group, results, strict=True):
            job.deliver(result)

    async def stream(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig) -> AsyncIterator[Chunk]:
        """Chunks of `llm.stream`, produced on the worker thread. Closing the iterator cancels generation."""
        channel = _Channel(asyncio.get_running_loop(), self.stream_buffer)

        def work() -> None:
            if channel.cancelled.is_set():  # the client left while the request was queued
                channel.send(_END)
                return
            chunks = self.llm.stream(prompt, stop=list(stop), config=config)
            try:
                for chunk in chunks:
                    if not channel.send(chunk, needs_slot=True):
                        break
            except BaseException as e:  # noqa: BLE001 - handed to the request's coroutine to report
                channel.send(_Failure(e))
            finally:
                chunks.close()
                channel.send(_END)

        self._executor.submit(work)
        try:
            item = await channel.receive()
            while True:
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                chunk, item = _coalesce(item, channel)  # type: ignore[arg-type]
                yield chunk
                if item is None:
                    item = await channel.receive()
        finally:
            channel.cancelled.set()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class _Channel:
    """Carries items from the worker thread to the event loop, and cancellation back.

    At most `capacity` chunks wait undelivered: past that the worker thread waits for the client (or for
    cancellation), so a fast producer and a slow or stalled client cannot grow memory without bound.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        self.cancelled = threading.Event()
        self._slots = threading.Semaphore(capacity)

    def send(self, item: object, *, needs_slot: bool = False) -> bool:
        """On the worker thread: hand `item` over; False once the receiver is gone."""
        if needs_slot:
            while not self._slots.acquire(timeout=0.05):
                if self.cancelled.is_set():
                    return False
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone (server shutting down)
            self.cancelled.set()
        return not self.cancelled.is_set()

    async def receive(self) -> object:
        return self._took(await self.queue.get())

    def receive_nowait(self) -> object | None:
        return None if self.queue.empty() else self._took(self.queue.get_nowait())

    def _took(self, item: object) -> object:
        if isinstance(item, Chunk):
            self._slots.release()
        return item


def _coalesce(chunk: Chunk, channel: _Channel) -> tuple[Chunk, object | None]:
    """Merge the chunks already waiting behind `chunk` into one, so a client that reads slower than the model
    writes gets fewer, larger deltas instead of a growing backlog. Returns the merged chunk and the next
    waiting item that is not a chunk (end or failure), if any."""
    texts = [chunk.text]
    finish, usage = chunk.finish_reason, chunk.usage
    while (item := channel.receive_nowait()) is not None:
        if not isinstance(item, Chunk):
            return Chunk(text="".join(texts), finish_reason=finish, usage=usage), item
        texts.append(item.text)
        finish, usage = item.finish_reason or finish, item.usage or usage
    return Chunk(text="".join(texts), finish_reason=finish, usage=usage), None
