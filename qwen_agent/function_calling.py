"""Function calling over any tool-call format: the policy written once for the agent, the server and LangChain.

A `FunctionCallingRequest` holds a format, the offered tools, the `tool_choice` and `parallel_tool_calls`.
It renders a conversation through the format and reads the model's text back as an assistant message,
applying the policy every format shares: "none" hides the tools, a forced call starts the assistant turn with
the format's prefix, `parallel_tool_calls=False` keeps the first call, and tool names come back spelled as
offered. `ToolCallStream` reads a streamed turn with the format's reader. `resolve_tool_format` turns the
user's `tool_format` choice (a name in `qwen_agent.formats.FORMATS`) into a format for a backend.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import FORMATS, ToolChoice, ToolFormat, get_format
from qwen_agent.formats.base import Rendered
from qwen_agent.formats.react import ReactFormat
from qwen_agent.formats.template import ChatTemplateFormat
from qwen_agent.formats.thinking import THINK_CLOSE, THINK_OPEN, lone_close, split_thinking
from qwen_agent.llm.base import LLM
from qwen_agent.prompts.react import Lang
from qwen_agent.schema import (
    CallConstraint,
    ChatPrompt,
    Message,
    ToolCall,
    ToolSpec,
    Turn,
    Usage,
    normalize_tool_name,
)
from qwen_agent.text import partial_marker_len

log = logging.getLogger(__name__)

#: the last user message of a turn whose tools brought nothing new (see `FunctionCallingRequest.for_turn`)
ANSWER_NOW = "Answer my question now, in plain words, from the tool results above."

#: the names users may pass as `tool_format` (or a `ToolFormat` object): those of the one table, `FORMATS`
TOOL_FORMATS = tuple(FORMATS)


def resolve_tool_format(tool_format: str | ToolFormat | None, llm: LLM, lang: Lang | None = None) -> ToolFormat:
    """The format to use with `llm`.

    "auto": the format the backend's chat template renders (Hermes or Qwen3-Coder, rendered by the template),
    ReAct for a checkpoint whose template has no tools (Qwen-1), else Hermes rendered by us. "server": OpenAI
    `tools` sent to a server that parses calls itself (the openai backend). Any other name of `FORMATS`
    ("hermes", "hermes_qwen3_thinking", "qwen3_coder", ...): that variant, rendered by the template when the
    template renders its format. "react": ReAct in `lang`. `lang` alone (tool_format None) means ReAct in
    that language; `lang` with a format that is not ReAct is a mistake (only ReAct has instructions in a
    language), not silently ignored.

    Raises:
        ConfigurationError: an unknown name, "server" with a backend that cannot send tools, or `lang` with a
            format other than ReAct.
    """
    fmt = _resolve(tool_format, llm, lang)
    if lang and not isinstance(fmt, ReactFormat):
        raise ConfigurationError(f"lang={lang!r} sets the language of ReAct's instructions, but the tool format is "
                                 f"{fmt.name!r}; pass tool_format='react' for ReAct in that language, or drop lang")
    return fmt


def _resolve(tool_format: str | ToolFormat | None, llm: LLM, lang: Lang | None) -> ToolFormat:
    if isinstance(tool_format, ToolFormat):
        return tool_format
    if tool_format is None:
        tool_format = "react" if lang else "auto"
    if tool_format == "react":
        return ReactFormat(lang or "en")
    if tool_format == "server":
        if not llm.accepts_openai_tools:
            raise ConfigurationError(f"tool_format 'server' needs the openai backend, not {type(llm).__name__}")
        return ChatTemplateFormat(get_format("hermes"), send_choice=True)
    native = llm.template_tool_format()
    if tool_format == "auto":
        if native == "":
            return ReactFormat(lang or "en")
        tool_format = native or "hermes"
    fmt = get_format(tool_format)
    return ChatTemplateFormat(fmt) if native == fmt.name else fmt


def build_request(
    fmt: ToolFormat, tools: Sequence[ToolSpec], tool_choice: Any = "auto", parallel_tool_calls: bool = True
) -> FunctionCallingRequest:
    """The one request assembly: `tool_choice` read and checked against the tools (ConfigurationError);
    "required" with a single tool forces that tool by name."""
    choice = ToolChoice.parse(tool_choice)
    choice.check(tools)
    if choice.mode == "required" and len(tools) == 1:  # "some tool" among one is that tool, named
        choice = ToolChoice("function", tools[0].name)
    return FunctionCallingRequest(fmt, tuple(tools), choice, parallel_tool_calls)


@dataclass(frozen=True)
class FunctionCallingRequest:
    """Everything that shapes one function-calling turn."""

    format: ToolFormat
    tools: tuple[ToolSpec, ...] = ()
    choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    answer_now: bool = False  # end the conversation with `ANSWER_NOW` (see `for_turn`)
    avoid_repeats: bool = False  # the constraint lists this user turn's calls already run (`CallConstraint.ran`)

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) and self.choice.mode != "none"

    @property
    def prefill(self) -> str:
        """What the model's turn starts with (a forced call); the model's text continues it."""
        return self.format.forced_prefix(self.choice, self.tools) if self.uses_tools else ""

    def render(self, messages: Sequence[Message], extra_stop: Sequence[str] = ()) -> Rendered:
        """What the model reads, with the caller's stop strings added to the format's."""
        if self.answer_now:
            messages = [*messages, Message.user(ANSWER_NOW)]
        r = self.format.render(messages, self.tools, self.choice)
        stop = [*extra_stop, *(w for w in r.stop if w not in extra_stop)]
        prompt = r.prompt
        tail = [*prompt, Message.assistant(r.prefill)] if r.prefill else list(prompt)  # the turn the backend continues
        if isinstance(prompt, ChatPrompt) or self.uses_tools:
            prompt = ChatPrompt(tail, getattr(prompt, "tools", ()), getattr(prompt, "tool_choice", None),
                                calls=self._constraint(r.prefill, messages) if self.uses_tools else None)
        else:
            prompt = tail
        return Rendered(prompt, tuple(stop), r.prefill)

    def _constraint(self, prefill: str, messages: Sequence[Message]) -> CallConstraint:
        """What a call must look like this turn: a forced function's call can only name that function; with
        `avoid_repeats`, the calls already run in this user turn are listed."""
        tools = [t for t in self.tools if self.choice.mode != "function" or t.name == self.choice.name]
        fmt = getattr(self.format, "inner", self.format)  # a chat template renders; the inner format is written
        ran = _answered_calls(messages) if self.avoid_repeats else ()
        return CallConstraint(format=fmt.name, tools=tuple(tools), prefill=prefill, ran=ran)

    def for_turn(self, messages: Sequence[Message]) -> FunctionCallingRequest:
        """This request as the next turn of `messages` needs it; two rules stop a model from looping:

        - a forced call already made and answered in this user turn: "auto" (forcing again loops);
        - the last calls brought nothing new (each result repeats an earlier result of the same tool in this
          user turn, as when a small model re-runs its answer through the tool): "none", and the model is
          asked to answer from the results (`ANSWER_NOW`).
        """
        if _stale_results(messages):
            return replace(self, choice=ToolChoice("none"), answer_now=True)
        if self.choice.mode in ("required", "function") and _answered_tool_call(messages):
            return replace(self, choice=ToolChoice("auto"))
        return self

    def read(self, text: str, usage: Usage | None = None) -> Turn:
        """The assistant message meant by `text`, the model's output after the prefill."""
        usage = usage or Usage()
        if not self.uses_tools:  # no tool markup is read; only reasoning is kept apart
            reasoning, content = self.format.split_reasoning(text)
            return Turn(message=Message.assistant(content, None, reasoning), raw=text, usage=usage)
        parsed = self.format.parse(text, tools=self.tools, prefill=self.prefill)
        calls = _distinct(parsed.tool_calls)
        if calls and (not self.parallel_tool_calls or self.choice.mode == "function"):
            calls = calls[:1]
        calls = [c.model_copy(update={"name": self._canonical_name(c.name)}) for c in calls]
        content = parsed.content or (None if calls else "")
        message = Message.assistant(content, calls, parsed.reasoning)
        if calls:  # re-rendered, the calls would read differently from what the model wrote (and the engine cached)
            message = message.model_copy(update={"raw_text": self.prefill + text})
        return Turn(message=message, raw=self.prefill + text, usage=usage)

    def _canonical_name(self, name: str) -> str:
        """The offered tool's exact name when `name` is a variant of it (case, quotes, '-' for '_')."""
        wanted = normalize_tool_name(name)
        return next((t.name for t in self.tools if normalize_tool_name(t.name) == wanted), name)


def _distinct(calls: Sequence[ToolCall]) -> list[ToolCall]:
    """The calls without exact repeats (same tool, same arguments): a model stuck repeating itself."""
    seen: set[tuple[str, str]] = set()
    out = []
    for c in calls:
        if c.identity() not in seen:
            seen.add(c.identity())
            out.append(c)
    return out


def _answered_tool_call(messages: Sequence[Message]) -> bool:
    return any(m.role == "tool" for m in _this_turn(messages))


def _answered_calls(messages: Sequence[Message]) -> tuple[ToolCall, ...]:
    """The calls of this user turn's assistant messages that have a result."""
    turn = _this_turn(messages)
    answered = {m.tool_call_id for m in turn if m.role == "tool"}
    return tuple(c for m in turn if m.role == "assistant" for c in m.tool_calls or () if c.id in answered)


#: the name of the user message the agent puts in the prompt after a turn's results (`EpisodePolicy.
#: ask_after_results`): it asks the same question again and starts no new user turn
RESTATED_QUESTION = "restated_question"


def _this_turn(messages: Sequence[Message]) -> Sequence[Message]:
    last_user = max((i for i, m in enumerate(messages) if m.role == "user" and m.name != RESTATED_QUESTION),
                    default=-1)
    return messages[last_user + 1 :]


def _stale_results(messages: Sequence[Message]) -> bool:
    """The trailing tool results all repeat earlier results (same tool, same text) of this user turn."""
    turn = list(_this_turn(messages))
    tail = len(turn)
    while tail > 0 and turn[tail - 1].role == "tool":
        tail -= 1
    last, earlier = turn[tail:], turn[:tail]
    seen = {(m.name, m.content) for m in earlier if m.role == "tool"}
    return bool(last) and all((m.name, m.content) in seen for m in last)


class ToolCallStream:
    """Reads a streamed turn: `feed` returns answer text safe to show now; `finish` the rest and the turn.

    Without tools every delta passes through; with tools the format's reader decides what is safe to show
    (never tool-call markup or reasoning). The shown text always adds up to the final message's content,
    and the turn equals `request.read` of the whole text.
    """

    def __init__(self, request: FunctionCallingRequest) -> None:
        self.request = request
        self._reader = request.format.reader(request.tools, request.prefill) if request.uses_tools else None
        self._text = ""
        self._shown = ""
        self._body_start = 0  # where the shown answer starts (after reasoning); see `_plain`
        self._reasoning_shown = ""

    def feed(self, delta: str) -> str:
        self._text += delta
        if self._reader is None:
            out = self._plain()
            self._shown += out
            return out
        out = self._reader.feed(delta)
        self._shown = self._reader.shown  # starts over when a lone `</think>` turns what it showed into reasoning
        return out

    def feed_parts(self, delta: str) -> tuple[str, str]:
        """`feed`, plus the reasoning safe to show now: (reasoning delta, content delta)."""
        content = self.feed(delta)
        fmt = self.request.format
        reasoning = _open_reasoning(self.request.prefill + self._text, fmt.think_opened, fmt.call_markers)
        if not reasoning.startswith(self._reasoning_shown):
            return "", content
        new, self._reasoning_shown = reasoning[len(self._reasoning_shown) :], reasoning
        return new, content

    def _plain(self) -> str:
        """Without tools: everything after a leading `<think>` block (or a lone `</think>`), once settled."""
        split = split_thinking(self._text, opened=self.request.format.think_opened, call_markers=(), final=False)
        if split is None:
            return ""
        if split.body_start != self._body_start:  # a lone `</think>`: what was shown was reasoning; start over
            self._body_start, self._shown = split.body_start, ""
        body = self._text[split.body_start :]
        if split.body_start:
            body = body.lstrip()
        elif not self.request.format.think_opened:  # hold back what may grow into a lone `</think>`
            body = body[: len(body) - partial_marker_len(body, (THINK_CLOSE,))]
        return body[len(self._shown) :] if body.startswith(self._shown) else ""

    def finish_parts(self, usage: Usage | None = None) -> tuple[str, str, Turn]:
        """`finish`, plus the reasoning not shown yet by `feed_parts`."""
        rest, turn = self.finish(usage)
        reasoning = turn.message.reasoning_content or ""
        more = reasoning[len(self._reasoning_shown) :] if reasoning.startswith(self._reasoning_shown) else ""
        return more, rest, turn

    def finish(self, usage: Usage | None = None) -> tuple[str, Turn]:
        """The text not shown yet (for a text answer) and the whole turn."""
        turn = self.request.read(self._text, usage)
        content = turn.message.content or ""
        if turn.message.tool_calls or not content.startswith(self._shown):
            if self._shown and not content.startswith(self._shown):
                log.warning("%s reader showed text that is not the turn's content", self.request.format.name)
            return "", turn
        return content[len(self._shown) :], turn

    @property
    def text(self) -> str:
        """Everything fed so far."""
        return self._text

    @property
    def shown(self) -> str:
        return self._shown

    def repeats_a_call(self) -> bool:
        """The turn so far holds the same call twice: a small model looping; the rest can be cut."""
        if not self.request.uses_tools:
            return False
        calls = self.request.format.parse(self._text, tools=self.request.tools, prefill=self.request.prefill)
        return len(_distinct(calls.tool_calls)) < len(calls.tool_calls)


def _open_reasoning(text: str, opened: bool, call_markers: Sequence[str]) -> str:
    """The reasoning written so far in a leading `<think>` block, safe to show: without a partial `</think>`
    at the end or surrounding whitespace; the whole block once it is closed (or a lone `</think>` came)."""
    if not opened:
        lead = text.lstrip()
        if not lead.startswith(THINK_OPEN):
            close = lone_close(text, call_markers)
            return "" if close is None else text[:close].strip()
        text = lead[len(THINK_OPEN) :]
    if THINK_CLOSE in text:
        return text[: text.index(THINK_CLOSE)].strip()
    return text[: len(text) - partial_marker_len(text, (THINK_CLOSE,))].strip()


def tool_calls_to_openai(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """OpenAI's `tool_calls` array."""
    return [c.to_openai() for c in calls]


def tool_calls_from_openai(data: Sequence[Any]) -> list[ToolCall]:
    """ToolCalls from OpenAI's `tool_calls` array; raises ValueError on a malformed entry."""
    return [ToolCall.from_openai(item, i) for i, item in enumerate(data)]


__all__ = [
    "TOOL_FORMATS",
    "FunctionCallingRequest",
    "ToolCallStream",
    "ToolChoice",
    "build_request",
    "resolve_tool_format",
    "tool_calls_from_openai",
    "tool_calls_to_openai",
]
