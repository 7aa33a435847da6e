"""OpenAI-style function calling for models that only write text, on top of Qwen's ReAct format.

OpenAI `tools` / `functions` go in, `tool_calls` / `function_call` come out. The conversation (assistant tool
calls and `tool` results included) becomes a ReAct transcript (`build_react_messages`); the model's ReAct text
is read back as an assistant message (`react_turn`). `tool_choice` is honoured by prefilling the start of the
model's turn: `Action:` for "required", `Action: <name>\\nAction Input:` for a named tool; "none" hides the
tools. `parallel_tool_calls=False` keeps only the first call of a turn.

`FunctionCallingPlanner` lets the `Agent` run in this mode; `ToolCallStream` reads a streamed turn, emitting
answer text as it arrives and tool calls only once they are complete.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from qwen_agent.llm.base import LLM
from qwen_agent.planner import Turn, react_turn
from qwen_agent.prompts.react import STOP_WORDS, Lang, build_react_messages
from qwen_agent.react import parse_react
from qwen_agent.schema import GenerationConfig, Message, ToolCall, ToolSpec, Usage
from qwen_agent.tools.registry import normalize_tool_name

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
        {"name": ...}}, {"name": ...}, or any other string taken as a tool name. Raises ValueError otherwise.
        """
        if value is None:
            return cls("auto")
        if isinstance(value, ToolChoice):
            return value
        if isinstance(value, str):
            if value in ("none", "auto", "required"):
                return cls(value)  # type: ignore[arg-type]
            if value == "any":
                return cls("required")
            return cls("function", value)
        if isinstance(value, dict):
            fn = value.get("function", value)
            name = fn.get("name") if isinstance(fn, dict) else None
            if isinstance(name, str) and name:
                return cls("function", name)
        raise ValueError(f"invalid tool_choice {value!r}: use 'none', 'auto', 'required' or a function name")

    def check(self, tools: Sequence[ToolSpec]) -> None:
        """Raise ValueError when the choice names a tool that is not offered, or requires one with none."""
        names = [t.name for t in tools]
        if self.mode == "function" and self.name not in names:
            raise ValueError(f"tool_choice names {self.name!r}, which is not among the tools {names}")
        if self.mode == "required" and not names:
            raise ValueError("tool_choice 'required' needs at least one tool")

    @property
    def prefill(self) -> str:
        """The text the model's turn is made to start with."""
        if self.mode == "function":
            return f"Action: {self.name}\nAction Input: "
        if self.mode == "required":
            return "Action: "
        return ""


@dataclass(frozen=True)
class FunctionCallingRequest:
    """Everything that shapes one function-calling turn."""

    tools: Sequence[ToolSpec] = ()
    choice: ToolChoice = field(default_factory=ToolChoice)
    parallel_tool_calls: bool = True
    lang: Lang = "en"

    @property
    def uses_tools(self) -> bool:
        return bool(self.tools) and self.choice.mode != "none"

    @property
    def prefill(self) -> str:
        """What the model's turn starts with ("required" with a single tool forces that tool)."""
        if not self.uses_tools:
            return ""
        if self.choice.mode == "required" and len(self.tools) == 1:
            return ToolChoice("function", self.tools[0].name).prefill
        return self.choice.prefill

    def prompt(self, messages: Sequence[Message]) -> list[Message]:
        """The chat the text-only model reads: ReAct transcript plus, when a tool is forced, the prefill."""
        if not self.uses_tools:
            return build_react_messages(messages, (), self.lang)
        out = build_react_messages(messages, self.tools, self.lang)
        if self.prefill:
            out.append(Message.assistant(self.prefill))
        return out

    def stop(self, extra: Sequence[str] = ()) -> list[str]:
        """Stop strings: the caller's, plus `Observation:` when the model may call tools."""
        words = list(extra)
        if self.uses_tools:
            words += [w for w in STOP_WORDS if w not in words]
        return words

    def read(self, text: str, usage: Usage | None = None) -> Turn:
        """The assistant message meant by `text`, the model's output after the prefill."""
        if not self.uses_tools:
            return Turn(Message.assistant(text), text, usage or Usage())
        turn = react_turn(self.prefill + text, usage)
        calls = turn.message.tool_calls
        if not calls:
            return turn
        if not self.parallel_tool_calls or self.choice.mode == "function":
            calls = calls[:1]
        calls = [c.model_copy(update={"name": self._canonical_name(c.name)}) for c in calls]
        return Turn(Message.assistant(turn.message.content, calls), turn.raw, turn.usage, turn.thought)

    def _canonical_name(self, name: str) -> str:
        """The offered tool's exact name when `name` is a variant of it (case, quotes, '-' for '_')."""
        wanted = normalize_tool_name(name)
        return next((t.name for t in self.tools if normalize_tool_name(t.name) == wanted), name)


class FunctionCallingPlanner:
    """A `Planner` that asks for OpenAI-style tool calls from a text-only model, through the ReAct format.

    Args:
        tool_choice: "auto", "none", "required", a tool name, or OpenAI's {"type": "function", ...} dict.
        parallel_tool_calls: keep every Action of a turn (True) or only the first (False).
        lang: language of the ReAct instructions.
        stop: extra stop strings.
    """

    def __init__(
        self,
        tool_choice: Any = "auto",
        parallel_tool_calls: bool = True,
        lang: Lang = "en",
        stop: Sequence[str] = (),
    ) -> None:
        self.choice = ToolChoice.parse(tool_choice)
        self.parallel_tool_calls = parallel_tool_calls
        self.lang = lang
        self.extra_stop = list(stop)

    def request(self, tools: Sequence[ToolSpec]) -> FunctionCallingRequest:
        self.choice.check(tools)
        return FunctionCallingRequest(tools, self.choice, self.parallel_tool_calls, self.lang)

    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None
    ) -> Turn:
        req = self.request(tools)
        if req.choice.mode in ("required", "function") and _answered_tool_call(messages):
            # A forced call was made and answered: forcing again would loop forever; let the model answer.
            req = FunctionCallingRequest(tools, ToolChoice("auto"), self.parallel_tool_calls, self.lang)
        gen = llm.generate(req.prompt(messages), stop=req.stop(self.extra_stop), config=config)
        return req.read(gen.text, gen.usage)


def _answered_tool_call(messages: Sequence[Message]) -> bool:
    last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
    return any(m.role == "tool" for m in messages[last_user + 1 :])


# --- transcript -> messages ---------------------------------------------------------------------------------
_OBSERVATION = re.compile(r"^[ \t]*Observation[ \t]*[:：][ \t]?", re.MULTILINE | re.IGNORECASE)
_NEXT_STEP = re.compile(r"^[ \t]*(?:Thought|Action|Final Answer)[ \t]*[:：]", re.MULTILINE | re.IGNORECASE)


def messages_from_transcript(text: str) -> list[Message]:
    """The inverse of `transcript_of`: a ReAct transcript (Thought / Action / Action Input / Observation ...
    Final Answer) as assistant `tool_calls` messages, `tool` results and a final assistant message.

    A step with no Thought of its own joins the previous assistant message (a parallel call), as
    `transcript_of` writes the Thought only before the first call of a message. An observation runs until
    the next Thought, Action or Final Answer line. Calls at the end with no Observation yet get no result.
    """
    out: list[Message] = []
    segments = _OBSERVATION.split(text)
    turn = segments[0]
    for k in range(1, len(segments) + 1):
        parsed = parse_react(turn)
        if parsed.kind != "tool_calls":
            if parsed.answer:
                out.append(Message.assistant(parsed.answer))
            break
        calls = [ToolCall(name=c.name, arguments=c.arguments) for c in parsed.calls]
        if k == len(segments):  # calls still waiting for their observation
            _append_step(out, parsed.thought, calls, [])
            break
        observation, turn = _split_observation(segments[k])
        _append_step(out, parsed.thought, calls, [Message.tool(observation, tool_call_id=c.id) for c in calls])
    return out


def _split_observation(segment: str) -> tuple[str, str]:
    m = _NEXT_STEP.search(segment)
    observation, rest = (segment[: m.start()], segment[m.start() :]) if m else (segment, "")
    return (observation[:-1] if observation.endswith("\n") else observation), rest


def _append_step(out: list[Message], thought: str, calls: list[ToolCall], results: list[Message]) -> None:
    last_call = max((i for i, m in enumerate(out) if m.role == "assistant"), default=-1)
    if not thought and last_call >= 0 and out[last_call].tool_calls and all(m.role == "tool" for m in out[last_call + 1 :]):
        prev = out[last_call]
        out[last_call] = Message.assistant(prev.content, [*(prev.tool_calls or []), *calls])
    else:
        out.append(Message.assistant(thought or None, calls))
    out.extend(results)


# --- streaming ---------------------------------------------------------------------------------------------
_KEYWORDS = ("thought", "action input", "action", "observation", "final answer")
_FINAL_LINE = re.compile(r"^[ \t>*#]*final answer[ \t]*\**[ \t]*[:：]", re.IGNORECASE | re.MULTILINE)


class ToolCallStream:
    """Reads a streamed turn: `feed` returns answer text safe to show now; `finish` returns the rest and the turn.

    Without tools every delta passes through. With tools, text is shown once `Final Answer:` has been written
    (the Thought before it is not part of the answer), holding back trailing whitespace and a last line that
    could still become a keyword. A turn that calls tools shows nothing: its calls come whole from `finish`.
    The shown text always adds up to the final message's content.
    """

    def __init__(self, request: FunctionCallingRequest) -> None:
        self.request = request
        self._buffer = request.prefill
        self._shown = ""

    def feed(self, delta: str) -> str:
        self._buffer += delta
        if not self.request.uses_tools:
            self._shown += delta
            return delta
        if not _FINAL_LINE.search(self._buffer):
            return ""
        parsed = parse_react(self._buffer)
        if parsed.kind != "final" or parsed.final_answer is None:
            return ""
        answer = _hold_back(parsed.final_answer, self._buffer)
        if not answer.startswith(self._shown) or len(answer) <= len(self._shown):
            return ""
        out, self._shown = answer[len(self._shown) :], answer
        return out

    def finish(self, usage: Usage | None = None) -> tuple[str, Turn]:
        """The text not shown yet (for a text answer) and the whole turn."""
        turn = self.request.read(self._buffer[len(self.request.prefill) :], usage)
        content = turn.message.content or ""
        if turn.message.tool_calls or not content.startswith(self._shown):
            return "", turn
        return content[len(self._shown) :], turn

    @property
    def shown(self) -> str:
        return self._shown


def _hold_back(answer: str, buffer: str) -> str:
    """`answer` less a last line that may turn into a keyword line once more text arrives."""
    last_nl = answer.rfind("\n")
    if last_nl != -1 and buffer.rstrip(" \t").endswith(answer[last_nl + 1 :]):
        line = answer[last_nl + 1 :].lstrip(" \t>*#").lower()
        if _may_be_keyword(line):
            answer = answer[:last_nl]
    return answer.rstrip()


def _may_be_keyword(line: str) -> bool:
    if not line:
        return True
    if any(k.startswith(line) for k in _KEYWORDS):
        return True
    return any(line.startswith(k) for k in _KEYWORDS) and ":" not in line and "：" not in line


def tool_calls_to_openai(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """OpenAI's `tool_calls` array."""
    return [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in calls
    ]


def tool_calls_from_openai(data: Sequence[dict[str, Any]]) -> list[ToolCall]:
    """ToolCalls from OpenAI's `tool_calls` array; raises ValueError on a malformed entry."""
    calls = []
    for i, item in enumerate(data):
        fn = item.get("function") if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            raise ValueError(f"tool_calls[{i}] has no function name")
        args = fn.get("arguments", "")
        args = args if isinstance(args, str) else _dumps(args)
        calls.append(ToolCall(name=fn["name"], arguments=args, id=item.get("id") or f"call_{i}"))
    return calls


def _dumps(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


__all__ = [
    "FunctionCallingPlanner",
    "FunctionCallingRequest",
    "ToolCallStream",
    "ToolChoice",
    "messages_from_transcript",
    "tool_calls_from_openai",
    "tool_calls_to_openai",
]
