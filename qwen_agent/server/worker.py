"""One model, many clients: every call to the LLM runs on a single worker thread.

A local model (one GPU, one KV cache) must never see two requests interleaved; a remote backend loses
little by being serialised here too. A backend that batches continuously (`open_batch()`, as TransformersLLM
has) runs every request, streamed or not, in one decode loop on that thread (`server.batching`): requests
join it as they arrive and leave it when they end, each with its own stop strings and settings. Other
backends run one request at a time, in arrival order.

Generation feeds an asyncio queue, so the event loop keeps serving other connections while tokens are
produced. A client that goes away stops its generation at the next chunk (its row leaves the batch). Chunks
that pile up while a client is slow are sent merged; past `stream_buffer` of them the model thread waits for
that client, so memory stays bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Usage
from qwen_agent.server.batching import END, BatchLoop, BatchRequest, Failure


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


class ModelWorker:
    """Runs calls to `llm` on one thread. `close()` stops accepting work.

    Args:
        llm: the backend.
        max_batch: most requests decoding together when the backend batches continuously.
        stream_buffer: most undelivered chunks of one stream before the model thread waits for its client.
    """

    def __init__(self, llm: LLM, *, max_batch: int = 8, stream_buffer: int = 4096) -> None:
        self.llm = llm
        self.max_batch = max_batch
        self.stream_buffer = stream_buffer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwen-agent-model")
        self._pending: list[_Job] = []
        self._serial_calls = 0
        self._queued = 0  # serial mode: requests handed to the worker thread that it has not started
        self._busy = 0  # serial mode: 1 while the worker thread runs a request
        self._lock = threading.Lock()
        batch = llm.open_batch()
        self.batches = BatchLoop(batch, max_batch) if batch is not None else None

    @property
    def batch_sizes(self) -> list[int]:
        """Requests served by each model step: rows of each decode step when batching, else 1 per call."""
        return self.batches.step_sizes if self.batches is not None else [1] * self._serial_calls

    def queue_depth(self) -> int:
        """Requests waiting for the model (for /metrics)."""
        return self.batches.waiting if self.batches is not None else self._queued

    def running(self) -> int:
        """Requests the model works on now: rows of the batch, or 0/1 when requests take turns."""
        return self.batches.active if self.batches is not None else self._busy

    async def generate(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig) -> Generation:
        if self.batches is not None:
            return await self._generate_batched(prompt, stop, config)
        loop = asyncio.get_running_loop()
        job = _Job(prompt, tuple(stop), config, loop.create_future(), loop)
        with self._lock:
            self._pending.append(job)
            self._queued += 1
        self._executor.submit(self._run_pending)
        return await job.future

    async def _generate_batched(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig) -> Generation:
        """The whole text of a batched stream (its stop string is cut, and not reported)."""
        parts: list[str] = []
        finish, usage = None, None
        async for chunk in self.stream(prompt, stop, config):
            parts.append(chunk.text)
            finish, usage = chunk.finish_reason or finish, chunk.usage or usage
        return Generation(text="".join(parts), finish_reason=finish or "stop", usage=usage or Usage())

    def _run_pending(self) -> None:
        """On the worker thread: run the oldest waiting job whose client is still there."""
        with self._lock:
            self._queued -= 1
            self._pending[:] = [j for j in self._pending if not j.future.cancelled()]  # clients gone
            if not self._pending:
                return
            job = self._pending.pop(0)
        self._serial_calls += 1
        self._busy = 1
        try:
            result = self.llm.generate(job.prompt, stop=list(job.stop), config=job.config)
        except BaseException as e:  # noqa: BLE001 - the waiting request gets the error
            job.deliver(None, e)
            return
        finally:
            self._busy = 0
        job.deliver(result)

    async def stream(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig) -> AsyncIterator[Chunk]:
        """Chunks of the generation, produced on the worker thread. Closing the iterator cancels generation."""
        channel = _Channel(asyncio.get_running_loop(), self.stream_buffer)
        if self.batches is not None:
            self.batches.add(BatchRequest(prompt, tuple(stop), config, channel))
            self._executor.submit(self.batches.run)
        else:
            with self._lock:
                self._queued += 1
            self._executor.submit(self._stream_alone, prompt, stop, config, channel)
        try:
            item = await channel.receive()
            while True:
                if item is END:
                    return
                if isinstance(item, Failure):
                    raise item.error
                chunk, item = _coalesce(item, channel)  # type: ignore[arg-type]
                yield chunk
                if item is None:
                    item = await channel.receive()
        finally:
            channel.cancelled.set()

    def _stream_alone(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig, channel: _Channel) -> None:
        with self._lock:
            self._queued -= 1
        if channel.cancelled.is_set():  # the client left while the request was queued
            channel.send(END)
            return
        self._serial_calls += 1
        self._busy = 1
        chunks = self.llm.stream(prompt, stop=list(stop), config=config)
        try:
            for chunk in chunks:
                if not channel.send(chunk, needs_slot=True):
                    break
        except BaseException as e:  # noqa: BLE001 - handed to the request's coroutine to report
            channel.send(Failure(e))
        finally:
            chunks.close()
            self._busy = 0
            channel.send(END)

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
