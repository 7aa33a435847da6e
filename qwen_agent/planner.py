"""Planners: how one agent turn is asked of the model and read back as an assistant message.

The agent keeps the conversation in OpenAI's shape (assistant `tool_calls`, `tool` results); a planner turns
that into whatever the model reads, calls the LLM, and returns the assistant message the model meant.
`FormatPlanner` does this for any tool-call format. Rendering and reading are written once (`_PendingTurn`);
`plan` and `aplan` only differ in how they call the model (`generate`/`stream` or `agenerate`/`astream`).
"""

from __future__ import annotations

import copy
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import aclosing
from dataclasses import replace
from typing import Any, Protocol

from qwen_agent.errors import RunCancelled
from qwen_agent.formats import ToolFormat
from qwen_agent.function_calling import (
    FunctionCallingRequest,
    ToolCallStream,
    build_request,
    resolve_tool_format,
)
from qwen_agent.llm.base import LLM
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import Chunk, GenerationConfig, Message, ToolSpec, Turn, Usage

TextCallback = Callable[[str], None]


class Planner(Protocol):
    """Plans one turn. May also define `async def aplan(...)` with the same arguments; without it, the async
    agent runs `plan` in a worker thread. With `cancel` set, a planner raises `RunCancelled` as soon as it can
    (between streamed pieces); `on_raw` receives the model's raw text as it comes. The agent passes these two
    only when its caller gave them."""

    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None,
        on_text: TextCallback | None = None, *, cancel: threading.Event | None = None,
        on_raw: TextCallback | None = None,
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
        avoid_repeats: tell the backend which calls of this user turn already ran (`CallConstraint.ran`), so
            one that can (the local one) takes back a call identical to one of them while the model writes it.
    """

    def __init__(
        self,
        tool_format: str | ToolFormat | None = "auto",
        *,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        lang: Lang | None = None,
        stop: Sequence[str] = (),
        avoid_repeats: bool = False,
    ) -> None:
        self.tool_format = tool_format
        self.avoid_repeats = avoid_repeats
        self.tool_choice = tool_choice
        self.parallel_tool_calls = parallel_tool_calls
        self.lang = lang
        self.extra_stop = list(stop)
        self._resolved: tuple[weakref.ref[LLM], ToolFormat] | None = None

    def format_for(self, llm: LLM) -> ToolFormat:
        """The format used with `llm` ("auto" resolved once per backend)."""
        # a weak reference, not id(): a new backend may reuse a freed one's address
        if self._resolved is None or self._resolved[0]() is not llm:
            self._resolved = (weakref.ref(llm), resolve_tool_format(self.tool_format, llm, self.lang))
        return self._resolved[1]

    def request(self, llm: LLM, tools: Sequence[ToolSpec]) -> FunctionCallingRequest:
        request = build_request(self.format_for(llm), tools, self.tool_choice, self.parallel_tool_calls)
        return replace(request, avoid_repeats=True) if self.avoid_repeats else request

    def answering(self) -> FormatPlanner:
        """This planner for a turn with no tools on offer (the agent's answer turn): nothing is forced."""
        planner = copy.copy(self)
        planner.tool_choice = "none"
        return planner

    def avoiding_repeats(self) -> FormatPlanner:
        """This planner with `avoid_repeats` on (the agent's turns when `EpisodePolicy.avoid_repeats`)."""
        planner = copy.copy(self)
        planner.avoid_repeats = True
        return planner

    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None,
        on_text: TextCallback | None = None, *, cancel: threading.Event | None = None,
        on_raw: TextCallback | None = None,
    ) -> Turn:
        """One turn. With `on_text`, the model's answer text is passed to it as it streams. A turn with tools
        on offer is always streamed, and cut once it writes the same call twice (small models loop). With
        `cancel`, the turn is streamed and `RunCancelled` raised once it is set (the model stops generating).
        `on_raw` receives every piece of the model's text, markup included."""
        turn = _PendingTurn(self.request(llm, tools).for_turn(messages), messages, self.extra_stop, on_text, cancel,
                            on_raw)
        if turn.plain:
            gen = llm.generate(turn.prompt, stop=turn.stop, config=config)
            return turn.read(gen.text, gen.usage)
        chunks = llm.stream(turn.prompt, stop=turn.stop, config=config)
        try:
            for chunk in chunks:
                if turn.feed(chunk):
                    break  # the model is repeating a call: stop generating, keep what it asked for
        finally:
            chunks.close()
        return turn.finish(llm)

    async def aplan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None,
        on_text: TextCallback | None = None, *, cancel: threading.Event | None = None,
        on_raw: TextCallback | None = None,
    ) -> Turn:
        """`plan` for asyncio."""
        turn = _PendingTurn(self.request(llm, tools).for_turn(messages), messages, self.extra_stop, on_text, cancel,
                            on_raw)
        if turn.plain:
            gen = await llm.agenerate(turn.prompt, stop=turn.stop, config=config)
            return turn.read(gen.text, gen.usage)
        async with aclosing(llm.astream(turn.prompt, stop=turn.stop, config=config)) as chunks:
            async for chunk in chunks:
                if turn.feed(chunk):
                    break  # leaving the block closes the stream: the model stops generating
        return turn.finish(llm)


class _PendingTurn:
    """One turn between asking and reading: the rendered prompt, and the streamed text read as it comes."""

    def __init__(self, req: FunctionCallingRequest, messages: Sequence[Message], extra_stop: list[str],
                 on_text: TextCallback | None, cancel: threading.Event | None,
                 on_raw: TextCallback | None = None) -> None:
        rendered = req.render(messages, extra_stop)
        self.prompt, self.stop = rendered.prompt, rendered.stop
        self.req = req
        self.on_text = on_text or _ignore
        self.on_raw = on_raw or _ignore
        self.cancel = cancel
        # streamed whenever tools are on offer, so a turn that writes the same call again and again is cut there
        self.plain = on_text is None and cancel is None and on_raw is None and not req.uses_tools
        self.reader = ToolCallStream(req)
        self.usage: Usage | None = None
        self.started = time.monotonic()
        self.first_token: float | None = None

    def _timed(self, turn: Turn) -> Turn:
        return turn.model_copy(update={"seconds": time.monotonic() - self.started,
                                       "first_token_seconds": self.first_token})

    def read(self, text: str, usage: Usage | None) -> Turn:
        return self._timed(self.req.read(text, usage))

    def feed(self, chunk: Chunk) -> bool:
        """Show what is new; True when the model started repeating a call and generation should stop.

        Raises:
            RunCancelled: the run's cancel token is set.
        """
        if self.cancel is not None and self.cancel.is_set():
            raise RunCancelled("stopped by the user")
        if self.first_token is None and chunk.text:
            self.first_token = time.monotonic() - self.started
        if chunk.text:
            self.on_raw(chunk.text)
        shown = self.reader.feed(chunk.text)
        if shown:
            self.on_text(shown)
        self.usage = chunk.usage or self.usage
        return "\n" in chunk.text and self.reader.repeats_a_call()

    def finish(self, llm: LLM) -> Turn:
        """The whole turn. A stream cut short (a looping turn) never got the backend's usage: it is counted
        here with the backend's tokenizer (the prompt's messages by their text, without the template's
        markup)."""
        rest, turn = self.reader.finish(self.usage or self._counted(llm))
        if rest:
            self.on_text(rest)
        return self._timed(turn)

    def _counted(self, llm: LLM) -> Usage:
        prompt = self.prompt if isinstance(self.prompt, str) else "\n".join(m.content or "" for m in self.prompt)
        return Usage(prompt_tokens=llm.count_tokens(prompt), completion_tokens=llm.count_tokens(self.reader.text))


def _ignore(text: str) -> None:
    return None


class ReactPlanner(FormatPlanner):
    """Qwen's ReAct prompt in, `Thought / Action / Action Input` or `Final Answer` out."""

    def __init__(self, lang: Lang = "en", stop: Sequence[str] = ()) -> None:
        super().__init__("react", lang=lang, stop=stop)


__all__ = ["FormatPlanner", "Planner", "ReactPlanner", "Turn"]
