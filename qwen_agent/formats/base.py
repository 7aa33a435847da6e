"""The tool-call format seam: how tools and a conversation are shown to a model, and how its text is read back.

A format is a pure object, no I/O: `render` turns tools plus an OpenAI-shaped conversation (assistant
`tool_calls`, `tool` results) into what the model reads; `parse` turns the model's raw text into content,
reasoning and tool calls; `reader()` does the same incrementally while the text streams. One file per format
(`react`, `hermes`, `qwen3_coder`, ...) plus its corpus of real and malformed outputs under `tests/formats/`.

| hook                | required | what it does                                                                 |
|---------------------|----------|------------------------------------------------------------------------------|
| `_render`           | yes      | messages + tools + choice -> `Rendered` (prompt messages, stop words, prefill) |
| `_parse`            | yes      | prefill + raw output -> `ParsedTurn`; may raise, `parse` catches and logs it  |
| `reader`            | no       | a `TurnReader` for streaming; the default buffers and parses at `finish`     |

Contract every format and its tests keep:
- `parse` never raises; a crash in `_parse` is logged and the text comes back as plain content.
- Streaming equals whole: for any split of a text into deltas, the reader's `finish()` equals `parse(text)`,
  and the content it showed along the way adds up to that turn's `content`.
- Tool-call markup and reasoning never appear in `content`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from qwen_agent.schema import Message, ToolCall, ToolSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ParsedTurn:
    """What the model meant: answer text, reasoning (from `<think>`), and the tool calls it asked for."""

    content: str = ""
    reasoning: str = ""
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class Rendered:
    """What the model reads for one turn.

    prompt: the conversation as this format's chat messages (tools described, calls and results as text).
    stop: stop strings this format needs (ReAct: `Observation:`; the native formats: none).
    prefill: text the assistant turn is made to start with (forcing a call); `parse` sees it prepended.
    """

    prompt: list[Message]
    stop: tuple[str, ...] = ()
    prefill: str = ""


@dataclass(frozen=True)
class Choice:
    """Which tool the model may or must call: "none", "auto", "required", or "function" with `name`."""

    mode: str = "auto"
    name: str | None = None


class TurnReader:
    """Reads one streamed turn. `feed(delta)` returns content safe to show now; `finish()` the whole turn.

    This default shows nothing until the end; formats override it to stream plain answer text early."""

    def __init__(self, fmt: ToolFormat, tools: Sequence[ToolSpec] = (), prefill: str = "") -> None:
        self._fmt = fmt
        self._tools = tools
        self._prefill = prefill
        self._text = ""
        self.shown = ""

    def feed(self, delta: str) -> str:
        self._text += delta
        return ""

    def finish(self) -> ParsedTurn:
        return self._fmt.parse(self._text, tools=self._tools, prefill=self._prefill)


class ToolFormat(ABC):
    """Base of every tool-call format; see the module docstring for the hooks. Settings go to the constructor
    (`ReactFormat(lang="zh")`); `parse` gets the offered tools to match names loosely and convert values."""

    name: ClassVar[str]

    def render(self, messages: Sequence[Message], tools: Sequence[ToolSpec], choice: Choice | None = None) -> Rendered:
        return self._render(list(messages), list(tools), choice or Choice())

    def parse(self, text: str, *, tools: Sequence[ToolSpec] = (), prefill: str = "") -> ParsedTurn:
        try:
            return self._parse(prefill + text, list(tools))
        except Exception:  # a reader must never raise; a crash is a bug to log, not an answer to lose
            log.exception("%s format: reading the model output failed; returning it as plain text", self.name)
            return ParsedTurn(content=prefill + text)

    def reader(self, tools: Sequence[ToolSpec] = (), prefill: str = "") -> TurnReader:
        return TurnReader(self, tools, prefill)

    @abstractmethod
    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: Choice) -> Rendered: ...

    @abstractmethod
    def _parse(self, text: str, tools: list[ToolSpec]) -> ParsedTurn: ...
