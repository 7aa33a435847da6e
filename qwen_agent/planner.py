"""Planners: how one agent turn is asked of the model and read back as an assistant message.

The agent keeps the conversation in OpenAI's shape (assistant `tool_calls`, `tool` results); a planner turns
that into whatever the model reads, calls the LLM, and returns the assistant message the model meant.
`FormatPlanner` does this for any tool-call format; it is a small synchronous core.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from qwen_agent.formats import ToolFormat
from qwen_agent.function_calling import (
    FunctionCallingRequest,
    ToolCallStream,
    build_request,
    resolve_tool_format,
)
from qwen_agent.llm.base import LLM
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import GenerationConfig, Message, ToolSpec, Turn

TextCallback = Callable[[str], None]


class Planner(Protocol):
    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None,
        on_text: TextCallback | None = None,
    ) -> Turn: ...


class FormatPlanner:
    """Asks for tool calls in one tool-call format and reads them back.

    Args:
        tool_format: "auto" (the backend's own format; see `resolve_tool_format`), "hermes", "qwen3_coder",
            "react", "server", or a `ToolFormat` object.
        tool_choice: "auto", "none", "required", a tool name, or OpenAI's {"type": "function", ...} dict. A
            forced call is forced once per user turn, then the model may answer.
        parallel_tool_calls: keep every call of a turn (True) or only the first (False).
        lang: with tool_format None or "react", the language of the ReAct instructions ("en" or "zh").
        stop: extra stop strings.
    """

    def __init__(
        self,
        tool_format: str | ToolFormat | None = "auto",
        *,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        lang: Lang | None = None,
        stop: Sequence[str] = (),
    ) -> None:
        self.tool_format = tool_format
        self.tool_choice = tool_choice
        self.parallel_tool_calls = parallel_tool_calls
        self.lang = lang
        self.extra_stop = list(stop)
        self._resolved: tuple[int, ToolFormat] | None = None

    def format_for(self, llm: LLM) -> ToolFormat:
        """The format used with `llm` ("auto" resolved once per backend)."""
        if self._resolved is None or self._resolved[0] != id(llm):
            self._resolved = (id(llm), resolve_tool_format(self.tool_format, llm, self.lang))
        return self._resolved[1]

    def request(self, llm: LLM, tools: Sequence[ToolSpec]) -> FunctionCallingRequest:
        return build_request(self.format_for(llm), tools, self.tool_choice, self.parallel_tool_calls)

    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None,
        on_text: TextCallback | None = None,
    ) -> Turn:
        """One turn. With `on_text`, the model's answer text is passed to it as it streams, and a turn that
        starts repeating a call it already made is cut there (small models loop)."""
        req = self.request(llm, tools).for_turn(messages)
        rendered = req.render(messages, self.extra_stop)
        if on_text is None:
            gen = llm.generate(rendered.prompt, stop=rendered.stop, config=config)
            return req.read(gen.text, gen.usage)
        reader = ToolCallStream(req)
        usage = None
        chunks = llm.stream(rendered.prompt, stop=rendered.stop, config=config)
        for chunk in chunks:
            shown = reader.feed(chunk.text)
            if shown:
                on_text(shown)
            usage = chunk.usage or usage
            if "\n" in chunk.text and reader.repeats_a_call():
                chunks.close()  # the model is repeating a call: stop generating, keep what it asked for
                break
        rest, turn = reader.finish(usage)
        if rest:
            on_text(rest)
        return turn


class ReactPlanner(FormatPlanner):
    """Qwen's ReAct prompt in, `Thought / Action / Action Input` or `Final Answer` out."""

    def __init__(self, lang: Lang = "en", stop: Sequence[str] = ()) -> None:
        super().__init__("react", lang=lang, stop=stop)


class FunctionCallingPlanner(FormatPlanner):
    """`FormatPlanner` under its earlier name: keyword arguments as before, ReAct unless `tool_format` says."""

    def __init__(
        self, tool_choice: Any = "auto", parallel_tool_calls: bool = True, lang: Lang = "en",
        stop: Sequence[str] = (), tool_format: str | ToolFormat | None = "react",
    ) -> None:
        super().__init__(tool_format, tool_choice=tool_choice, parallel_tool_calls=parallel_tool_calls, lang=lang,
                         stop=stop)


__all__ = ["FormatPlanner", "FunctionCallingPlanner", "Planner", "ReactPlanner", "Turn"]
