"""The tool-call format seam: how tools and a conversation are shown to a model, and how its text is read back.

A format is a pure object, no I/O: `render` turns tools plus an OpenAI-shaped conversation (assistant
`tool_calls`, `tool` results) into what the model reads; `parse` turns the model's raw text into content,
reasoning and tool calls; `reader()` does the same incrementally while the text streams. One file per format
(`react`, `hermes`, `qwen3_coder`, ...) plus its corpus of real and malformed outputs under `tests/formats/`.

| hook                | required | what it does                                                                 |
|---------------------|----------|------------------------------------------------------------------------------|
| `_render`           | yes      | messages + tools + choice -> `Rendered` (prompt messages, stop words, prefill) |
| `_parse`            | yes      | prefill + raw output -> `ParsedTurn`; may raise, `parse` catches and logs it  |
| `forced_prefix`     | no       | the text that starts a turn forced to call a tool ("" when it cannot force)  |
| `reader`            | no       | a `TurnReader` for streaming; the default buffers and parses at `finish`     |

Contract every format and its tests keep:
- `parse` never raises; a crash in `_parse` is logged and the text comes back as plain content.
- Streaming equals whole: for any split of a text into deltas, the reader's `finish()` equals `parse(text)`,
  and the content it showed along the way (its `shown`) is where that turn's `content` starts; `shown` starts
  over once, at a lone `</think>` (`formats.thinking`), when what it showed turns out to be reasoning.
- Tool-call markup and reasoning never appear in `content`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from qwen_agent.errors import ConfigurationError
from qwen_agent.formats.thinking import split_thinking
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
    prefill: text the assistant turn is made to start with (forcing a call); `parse` sees it prepended. It is
        not in `prompt`: the request adds it as a last assistant message, which backends continue.
    """

    prompt: list[Message]
    stop: tuple[str, ...] = ()
    prefill: str = ""


ChoiceMode = Literal["none", "auto", "required", "function"]


@dataclass(frozen=True)
class ToolChoice:
    """Which tool the model may or must call.

    mode: "none" (answer in text, tools hidden), "auto" (the model decides), "required" (some tool must be
    called) or "function" (the tool called `name` must be called).
    """

    mode: ChoiceMode = "auto"
    name: str | None = None

    @classmethod
    def parse(cls, value: Any) -> ToolChoice:
        """Read OpenAI's `tool_choice` (or legacy `function_call`), LangChain's "any", or a tool name.

        Accepts None ("auto"), "none" / "auto" / "required" / "any", {"type": "function", "function":
        {"name": ...}}, {"name": ...}, or any other string taken as a tool name.

        Raises:
            ConfigurationError: any other value.
        """
        if value is None:
            return cls("auto")
        if isinstance(value, ToolChoice):
            return value
        if isinstance(value, str):
            if value in ("none", "auto", "required"):
                return cls(value)  # type: ignore[arg-type]
            return cls("required") if value == "any" else cls("function", value)
        if isinstance(value, dict):
            fn = value.get("function", value)
            name = fn.get("name") if isinstance(fn, dict) else None
            if isinstance(name, str) and name:
                return cls("function", name)
        raise ConfigurationError(f"invalid tool_choice {value!r}: use 'none', 'auto', 'required' or a function name")

    def check(self, tools: Sequence[ToolSpec]) -> None:
        """Raise ConfigurationError when the choice names a tool not offered, or requires one with none."""
        names = [t.name for t in tools]
        if self.mode == "function" and self.name not in names:
            raise ConfigurationError(f"tool_choice names {self.name!r}, which is not among the tools {names}")
        if self.mode == "required" and not names:
            raise ConfigurationError("tool_choice 'required' needs at least one tool")

    def to_openai(self) -> str | dict[str, Any]:
        """OpenAI's `tool_choice` value."""
        if self.mode == "function":
            return {"type": "function", "function": {"name": self.name}}
        return self.mode



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
    #: the prompt already opened `<think>`, so the output holds only its close (`formats.thinking`)
    think_opened: bool = False
    #: the openings of a call: one ends unclosed reasoning, and a `</think>` after one is the call's text
    call_markers: tuple[str, ...] = ()
    #: results are read inside the model's own turn (ReAct's scratchpad), so no user message may follow them
    results_in_scratchpad: ClassVar[bool] = False

    def render(
        self, messages: Sequence[Message], tools: Sequence[ToolSpec], choice: ToolChoice | None = None
    ) -> Rendered:
        """What the model reads. With choice "none" or no tools the tools are not shown at all."""
        choice = choice or ToolChoice()
        if choice.mode == "none":
            tools = ()
        return self._render(list(messages), list(tools), choice)

    def parse(self, text: str, *, tools: Sequence[ToolSpec] = (), prefill: str = "") -> ParsedTurn:
        try:
            return self._parse(prefill + text, list(tools))
        except Exception:  # a reader must never raise; a crash is a bug to log, not an answer to lose
            log.exception("%s format: reading the model output failed; returning it as plain text", self.name)
            return ParsedTurn(content=prefill + text)

    def reader(self, tools: Sequence[ToolSpec] = (), prefill: str = "") -> TurnReader:
        return TurnReader(self, tools, prefill)

    def verbatim(self, message: Message, tools: Sequence[ToolSpec]) -> Message | None:
        """`message` as the model wrote it (its `raw_text` as the content), for rendering the history again:
        the engine then finds the tokens it generated at the start of the next prompt and serves them from its
        prefix cache. None (render as usual) when the message has no `raw_text`, carries reasoning (templates
        drop earlier turns' reasoning), or no longer reads as its raw text does (content or calls changed since:
        the message wins)."""
        raw = message.raw_text
        if message.role != "assistant" or not raw or message.reasoning_content:
            return None
        parsed = self.parse(raw, tools=tools)
        if parsed.reasoning or parsed.content != (message.content or ""):
            return None
        written = list(dict.fromkeys(c.identity() for c in parsed.tool_calls))  # a repeated call counted once
        if written != [c.identity() for c in message.tool_calls or []]:
            return None
        return Message.assistant(raw)

    def forced_prefix(self, choice: ToolChoice, tools: Sequence[ToolSpec]) -> str:
        """The start of an assistant turn that makes the model call a tool: the named one for "function",
        any for "required" ("" for other modes, or when this format cannot force). Default: the prefill
        `_render` gives a one-message conversation."""
        if choice.mode not in ("required", "function") or not tools:
            return ""
        return self._render([Message.user("")], list(tools), choice).prefill

    def split_reasoning(self, text: str) -> tuple[str, str]:
        """(reasoning, the rest) of an output read without tools: a leading `<think>` block, as every Qwen
        reasoning model writes it, whatever the tool format."""
        split = split_thinking(text, opened=self.think_opened, call_markers=())
        assert split is not None  # a final split always settles
        return split.reasoning, text[split.body_start :].lstrip() if split.body_start else text

    @abstractmethod
    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> Rendered: ...

    @abstractmethod
    def _parse(self, text: str, tools: list[ToolSpec]) -> ParsedTurn: ...
