"""An LLM stand-in that shows the model's text as it is generated and lets a run be stopped mid-generation.

`generate` and `stream` are served from the wrapped backend's `stream`, each piece handed to a callback, and
`RunCancelled` raised between pieces once the run is asked to stop (closing the stream stops the backend
generating). Everything else (model_name, default_config, count_tokens, what a planner asks a backend about
its chat template ...) is read from the wrapped backend itself, so planners choose exactly as they would for
it; this is why the wrapper forwards rather than subclasses `LLM`, whose defaults would answer instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from qwen_agent.errors import QwenAgentError
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Usage


class RunCancelled(QwenAgentError):
    """The user stopped the run."""


class TeeLLM:
    """Streams `inner`, handing every text piece to `on_text`; stops when `cancel` is set.

    Args:
        inner: the real backend (shared by every conversation; not closed by this wrapper).
        on_text: called with each piece of text, in order.
        cancel: set it to stop the run at the next piece.
    """

    def __init__(self, inner: LLM, on_text: Callable[[str], None], cancel: threading.Event) -> None:
        self.inner = inner
        self._on_text = on_text
        self._cancel = cancel

    def __getattr__(self, name: str) -> Any:
        if name == "inner":  # not set yet (copying, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    def generate(self, prompt: Prompt, *, stop: Sequence[str] = (), config: GenerationConfig | None = None,
                 **kwargs: Any) -> Generation:
        pieces: list[str] = []
        last = Chunk()
        for chunk in self.stream(prompt, stop=stop, config=config, **kwargs):
            pieces.append(chunk.text)
            last = chunk
        return Generation(text="".join(pieces), finish_reason=last.finish_reason or "stop",
                          usage=last.usage or Usage())

    def stream(self, prompt: Prompt, *, stop: Sequence[str] = (), config: GenerationConfig | None = None,
               **kwargs: Any) -> Iterator[Chunk]:
        self._check()
        source = self.inner.stream(prompt, stop=stop, config=config, **kwargs)
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

    def close(self) -> None:
        return None  # the wrapped backend belongs to the app, which closes it once

    def __enter__(self) -> TeeLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
