"""One model, many clients: every call to the LLM runs on a single worker thread, in arrival order.

A local model (one GPU, one KV cache) must never see two requests interleaved; a remote backend loses
little by being serialised here too. Non-streamed requests that wait together with the same stop strings
and settings run as one batch when the backend has `generate_batch` (TransformersLLM does). Streamed generation runs on the worker thread and feeds an asyncio
queue, so the event loop keeps serving other connections while tokens are produced. A client that goes
away stops its generation at the next chunk. Chunks that pile up while a client is slow are sent merged.
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
    """

    def __init__(self, llm: LLM, *, max_batch: int = 8) -> None:
        self.llm = llm
        self.max_batch = max_batch
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
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the event loop is gone (server shutting down)
                cancelled.set()

        def work() -> None:
            if cancelled.is_set():
                put(_END)
                return
            chunks = self.llm.stream(prompt, stop=list(stop), config=config)
            try:
                for chunk in chunks:
                    put(chunk)
                    if cancelled.is_set():
                        break
            except BaseException as e:  # noqa: BLE001 - handed to the request's coroutine to report
                put(_Failure(e))
            finally:
                chunks.close()
                put(_END)

        loop.run_in_executor(self._executor, work)
        try:
            item = await queue.get()
            while True:
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                chunk, item = _coalesce(item, queue)  # type: ignore[arg-type]
                yield chunk
                if item is None:
                    item = await queue.get()
        finally:
            cancelled.set()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _coalesce(chunk: Chunk, queue: asyncio.Queue[object]) -> tuple[Chunk, object | None]:
    """Merge the chunks already waiting behind `chunk` into one, so a client that reads slower than the model
    writes gets fewer, larger deltas instead of a growing backlog. Returns the merged chunk and the next
    queued item that is not a chunk (end or failure), if any."""
    texts = [chunk.text]
    finish, usage = chunk.finish_reason, chunk.usage
    while not queue.empty():
        item = queue.get_nowait()
        if not isinstance(item, Chunk):
            return Chunk(text="".join(texts), finish_reason=finish, usage=usage), item
        texts.append(item.text)
        finish, usage = item.finish_reason or finish, item.usage or usage
    return Chunk(text="".join(texts), finish_reason=finish, usage=usage), None
