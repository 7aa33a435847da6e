"""An LLM wrapper that shows the model's text as it is generated and lets a run be stopped mid-generation.

Planners call `generate`; this wrapper serves it from the wrapped backend's `stream`, passing each piece to a
callback and raising `RunCancelled` between pieces once the run is asked to stop (closing the stream, which
stops the backend generating). Anything else is read through to the wrapped backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

from qwen_agent.errors import QwenAgentError
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Usage


class RunCancelled(QwenAgentError):
    """The user stopped the run."""


class TeeLLM(LLM):
    """Streams `inner`, handing every text piece to `on_text`; stops when `cancel` is set.

    Args:
        inner: the real backend (shared by every conversation; not closed by this wrapper).
        on_text: called with each piece of text, in order.
        cancel: set it to stop the run at the next piece.
    """

    def __init__(self, inner: LLM, on_text: Callable[[str], None], cancel: threading.Event) -> None:
        super().__init__(inner.default_config)
        self.inner = inner
        self.model_name = inner.model_name
        self._on_text = on_text
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:  # count_tokens, tokenizer ...: what planners may look up
        if name == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _generate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        pieces: list[str] = []
        last = Chunk()
        for chunk in self._stream(prompt, stop, config):
            pieces.append(chunk.text)
            last = chunk
        return Generation(text="".join(pieces), finish_reason=last.finish_reason or "stop",
                          usage=last.usage or Usage())

    def _stream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Iterator[Chunk]:
        self._check()
        source = self.inner.stream(prompt, stop=stop, config=config)
        try:
            for chunk in source:
                self._check()
                if chunk.text:
                    self._on_text(chunk.text)
                yield chunk
        finally:
            source.close()

    def _check(self) -> None:
        if self._cancel.is_set():
            raise RunCancelled("stopped by the user")

    def _close(self) -> None:
        return None  # the wrapped backend belongs to the app, which closes it once
