"""One model, many clients: every call to the LLM runs on a single worker thread, in arrival order.

A local model (one GPU, one KV cache) must never see two requests interleaved; a remote backend loses
little by being serialised here too. Streamed generation runs on the worker thread and feeds an asyncio
queue, so the event loop keeps serving other connections while tokens are produced. A client that goes
away stops its generation at the next chunk.
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
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.error
                yield item  # type: ignore[misc]
        finally:
            cancelled.set()

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
