"""The one contract every language model backend fulfils.

A backend subclasses `LLM` and implements hooks; the public methods around them are written once here.

| hook                                   | required | what it does                                                  |
|----------------------------------------|----------|---------------------------------------------------------------|
| `_generate(prompt, stop, config)`      | yes      | one completion; may return text that runs past a stop string  |
| `_stream(prompt, stop, config)`        | no       | yields `Chunk`s of raw text; default: one chunk of _generate  |
| `_agenerate(prompt, stop, config)`     | no       | async `_generate`; default: `_generate` in a worker thread    |
| `_astream(prompt, stop, config)`       | no       | async iterator of `Chunk`s; default: `_stream` in a thread    |
| `_close()` / `_aclose()`               | no       | release servers, GPU memory, connections                      |
| `count_tokens(text)`                   | no       | exact token count; default: an estimate (4 bytes a token)     |
| `context_window` (attribute)           | no       | the model's token limit, when known; default None             |
| `open_batch()`                         | no       | a continuous-batching decode loop for the server; default None |

`prompt` is either a `str` (raw text completion: the model continues exactly these characters) or a list of
`Message` (chat: the backend applies the model's chat template). The base class trims stop strings on the
decoded text, for both `generate` and `stream`, so a backend may ignore `stop` entirely; passing it on to a
server or a stopping criterion is only an optimisation. A streamed answer never shows a stop string or a
prefix of one, and `"".join(chunk.text for chunk in llm.stream(p))` equals `llm.generate(p).text`.

`agenerate` / `astream` are the same contract for asyncio; the trimming around the hooks is shared. A backend
with a native async client (the OpenAI-compatible one) implements `_agenerate` / `_astream`; the others get
worker-thread defaults that never block the event loop and run one blocking call at a time per backend (local
models and their caches are not thread-safe).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from qwen_agent.aio import in_thread, iterate_in_thread
from qwen_agent.llm.stops import StopMatcher, trim_at_stop
from qwen_agent.schema import ChatPrompt, Chunk, Generation, GenerationConfig, Message, Usage
from qwen_agent.text import partial_marker_len

Prompt = str | Sequence[Message]

_LOCK_FOR_LOCKS = threading.Lock()


class LLM(ABC):
    """Base class of backends. Use as a context manager, or call `close()`, to release resources."""

    #: short name used in logs and the server's /v1/models
    model_name: str = "unknown"
    #: the backend can send a `ChatPrompt`'s tools to a server that parses tool calls itself
    accepts_openai_tools: bool = False
    #: tokens the model attends to, when known: the server then refuses a prompt that cannot fit, up front
    context_window: int | None = None

    def __init__(self, config: GenerationConfig | None = None) -> None:
        self.default_config = config or GenerationConfig()

    # --- optional features: a backend that has them overrides these -------------------------------------
    def count_tokens(self, text: str) -> int:
        """Tokens in `text`: exact where the backend has the model's tokenizer (the local one), else an estimate
        of four UTF-8 bytes a token."""
        return (len(text.encode("utf-8")) + 3) // 4

    def open_batch(self) -> Any | None:
        """A continuous-batching decode loop the server's worker drives (`qwen_agent.server.batching`), or None:
        requests then take turns."""
        return None

    # --- public API ---------------------------------------------------------------------------------------
    def generate(
        self, prompt: Prompt, *, stop: Sequence[str] = (), config: GenerationConfig | None = None
    ) -> Generation:
        """Complete `prompt` and return the text up to (not including) the first stop string."""
        stop = list(stop)
        raw = self._generate(check_prompt(prompt), stop, config or self.default_config)
        return trim_generation(raw, stop)

    def stream(
        self, prompt: Prompt, *, stop: Sequence[str] = (), config: GenerationConfig | None = None
    ) -> Iterator[Chunk]:
        """Yield text deltas; the last chunk carries `finish_reason` (and `usage` when the backend knows it)."""
        trimmer = StreamTrimmer(stop)
        source = self._stream(check_prompt(prompt), list(stop), config or self.default_config)
        try:
            for chunk in source:
                shown = trimmer.feed(chunk)
                if shown is not None:
                    yield shown
                if trimmer.stopped:
                    break
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()  # stops the backend generating past the stop string
        yield trimmer.last()

    async def agenerate(
        self, prompt: Prompt, *, stop: Sequence[str] = (), config: GenerationConfig | None = None
    ) -> Generation:
        """`generate` for asyncio."""
        stop = list(stop)
        raw = await self._agenerate(check_prompt(prompt), stop, config or self.default_config)
        return trim_generation(raw, stop)

    async def astream(
        self, prompt: Prompt, *, stop: Sequence[str] = (), config: GenerationConfig | None = None
    ) -> AsyncIterator[Chunk]:
        """`stream` for asyncio. Close it (`contextlib.aclosing`) when leaving early, so generation stops."""
        trimmer = StreamTrimmer(stop)
        source = self._astream(check_prompt(prompt), list(stop), config or self.default_config)
        try:
            async for chunk in source:
                shown = trimmer.feed(chunk)
                if shown is not None:
                    yield shown
                if trimmer.stopped:
                    break
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()  # stops the backend (closes the HTTP stream, stops the worker thread)
        yield trimmer.last()

    def template_tool_format(self) -> str | None:
        """The tool-call format this backend's chat template renders a `ChatPrompt`'s tools in ("hermes",
        "qwen3_coder"), "" for a template without tools (Qwen-1: use ReAct), None when unknown or none."""
        return None

    def checkpoint_generation_config(self, *, greedy: bool = True, fallback_max_tokens: int = 1024
                                     ) -> GenerationConfig | None:
        """The decoding the checkpoint's own generation config asks for (a local checkpoint's
        `generation_config.json`: `max_new_tokens`, `repetition_penalty`, and with greedy=False its sampling
        settings), or None when this backend cannot know it (a server)."""
        return None

    def close(self) -> None:
        self._close()

    async def aclose(self) -> None:
        """Close from async code: the async clients of the running loop, then what `close` releases."""
        await self._aclose()
        self._close()

    def __enter__(self) -> LLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- hooks --------------------------------------------------------------------------------------------
    @abstractmethod
    def _generate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation: ...

    def _stream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Iterator[Chunk]:
        result = self._generate(prompt, stop, config)
        yield Chunk(text=result.text, finish_reason=result.finish_reason, usage=result.usage)

    async def _agenerate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        return await in_thread(self._generate, prompt, stop, config, lock=self._blocking_lock(),
                               name="qwen-agent-llm")

    def _astream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> AsyncIterator[Chunk]:
        return iterate_in_thread(lambda: self._stream(prompt, stop, config), lock=self._blocking_lock(),
                                 name="qwen-agent-llm-stream")

    def _blocking_lock(self) -> threading.Lock:
        """The lock of the thread defaults: one blocking call at a time (made here, so a subclass that skips
        `LLM.__init__` still gets one)."""
        with _LOCK_FOR_LOCKS:
            return self.__dict__.setdefault("_blocking", threading.Lock())

    def _close(self) -> None:
        return None

    async def _aclose(self) -> None:
        return None


class StreamTrimmer:
    """Stop-string trimming of a raw chunk stream, shared by `stream` and `astream`.

    `feed` returns the chunk to show (None when everything is held back); after a stop string, `stopped` is
    true and the source should be closed; `last` is the final chunk with the finish reason and usage.
    """

    def __init__(self, stop: Sequence[str]) -> None:
        self.matcher = StopMatcher(stop)
        self.finish: str | None = None
        self.usage: Usage | None = None

    @property
    def stopped(self) -> bool:
        return self.matcher.stopped is not None

    def feed(self, chunk: Chunk) -> Chunk | None:
        if chunk.usage is not None:
            self.usage = chunk.usage
        if chunk.finish_reason is not None:
            self.finish = chunk.finish_reason
        text = self.matcher.feed(chunk.text)
        return Chunk(text=text) if text else None

    def last(self) -> Chunk:
        finish = "stop" if self.stopped else self.finish
        tail = self.matcher.flush(keep_partial=finish != "length")
        return Chunk(text=tail, finish_reason=finish or "stop", usage=self.usage)  # type: ignore[arg-type]


def trim_generation(raw: Generation, stop: Sequence[str]) -> Generation:
    """What `generate` returns for a backend's raw result: cut at the first stop string; when the token limit
    cut the text, also drop a tail that is the start of a stop string."""
    text, hit = trim_at_stop(raw.text, stop)
    if hit is not None:
        return Generation(text=text, finish_reason="stop", stop_string=hit, usage=raw.usage)
    if raw.finish_reason == "length":
        text = text[: len(text) - partial_marker_len(text, stop)]
    return Generation(text=text, finish_reason=raw.finish_reason, stop_string=raw.stop_string, usage=raw.usage)


def check_prompt(prompt: Prompt) -> Prompt:
    """A prompt as backends receive it: a str as is, or a non-empty list of Message (TypeError otherwise); a
    `ChatPrompt` keeps its tools."""
    if isinstance(prompt, str):
        return prompt
    messages = prompt if isinstance(prompt, ChatPrompt) else list(prompt)
    if not messages:
        raise ValueError("prompt is an empty list of messages")
    for m in messages:
        if not isinstance(m, Message):
            raise TypeError(f"prompt messages must be qwen_agent.schema.Message, got {type(m).__name__}")
    return messages
