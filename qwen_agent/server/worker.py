"""One model, many clients: every call to the LLM runs on a single worker thread, in arrival order.

A local model (one GPU, one KV cache) must never see two requests interleaved; a remote backend loses
little by being serialised here too. Streamed generation runs on the worker thread and feeds an asyncio
queue, so the event loop keeps serving other connections while tokens are produced. A client that goes
away stops its generation at the next chunk. Chunks that pile up while a client is slow are sent merged.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig

_END = object()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class ModelWorker:
    """Serialises calls to `llm` on one thread. `close()` stops accepting work."""

    def __init__(self, llm: LLM) -> None:
        self.llm = llm
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="qwen-agent-model")

    async def generate(self, prompt: Prompt, stop: Sequence[str], config: GenerationConfig) -> Generation:
        loop = asyncio.get_running_loop()
        call = partial(self.llm.generate, prompt, stop=list(stop), config=config)
        return await loop.run_in_executor(self._executor, call)

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
