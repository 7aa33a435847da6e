"""A test double: an LLM that replays fixed text. It never looks at the prompt except to record it.

It is native on both sides of the contract: `agenerate` answers without a thread, and `astream` yields to the
event loop between chunks, so many agents on one loop interleave as they would over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator

from qwen_agent.errors import ModelError
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Usage


class ScriptedLLM(LLM):
    """Replays `responses` in order, one per call, and records every prompt and stop list it was given.

    The replayed text may run past a stop string, as a real model without server-side stops would: the base
    class trims it. Streaming splits each response into `chunk_size`-character pieces.
    """

    model_name = "scripted"

    def __init__(self, responses: Iterable[str], *, chunk_size: int = 3, cycle: bool = False) -> None:
        super().__init__()
        self.responses = list(responses)
        self.chunk_size = chunk_size
        self.cycle = cycle
        self.calls: list[tuple[Prompt, list[str]]] = []
        self._next = 0

    def _take(self, prompt: Prompt, stop: list[str]) -> str:
        self.calls.append((prompt, stop))
        if self._next >= len(self.responses):
            if not self.cycle or not self.responses:
                raise ModelError(f"ScriptedLLM ran out of responses after {len(self.responses)} calls")
            self._next = 0
        text = self.responses[self._next]
        self._next += 1
        return text

    def _generate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        text = self._take(prompt, stop)
        return Generation(text=text, finish_reason="stop", usage=Usage(completion_tokens=len(text)))

    def _stream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Iterator[Chunk]:
        yield from self._chunks(self._take(prompt, stop))

    async def _agenerate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        return self._generate(prompt, stop, config)

    async def _astream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> AsyncIterator[Chunk]:
        for chunk in self._chunks(self._take(prompt, stop)):
            await asyncio.sleep(0)  # let other tasks run, as a network read would
            yield chunk

    def _chunks(self, text: str) -> Iterator[Chunk]:
        for i in range(0, len(text), self.chunk_size):
            yield Chunk(text=text[i : i + self.chunk_size])
        yield Chunk(finish_reason="stop", usage=Usage(completion_tokens=len(text)))
