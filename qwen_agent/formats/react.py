"""Qwen's ReAct format (Qwen-1, and any text-only model): `Thought / Action / Action Input`, an `Observation:`
stop, `Final Answer`. The prompt text is data in `qwen_agent.prompts.react`; this module renders a conversation
with it (`ReactFormat`) and reads ReAct text as real models write it (`parse_react`, never raises).

What it tolerates: a model that wrote its own `Observation:` and went on (cut there), a half-written stop word
at the end (`Observ`), full-width colons, `Action:` names in backticks, quotes or with spaces, Action Input as
JSON, json5, a Python dict, inside ```json fences or followed by prose, several Action blocks (parallel calls),
and a Final Answer and an Action in the same text (whichever comes first wins: an answer written after an
Action, before its Observation, is the model guessing the result).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from qwen_agent.errors import ConfigurationError
from qwen_agent.formats.base import ParsedTurn, Rendered, ToolChoice, ToolFormat, TurnReader
from qwen_agent.formats.schema_echo import without_schema_echo
from qwen_agent.jsonish import object_span, strip_code_fence
from qwen_agent.prompts.react import REACT_TEMPLATE, STOP_WORDS, Lang, build_react_messages
from qwen_agent.schema import Message, ToolCall, ToolSpec

log = logging.getLogger(__name__)

# Keyword lines. `\s*[:：]` accepts full-width colons and stray spaces; an optional index (`Action 1:`) too.
_KEYWORD = r"(?:Thought|Action Input|Action|Observation|Final Answer)"
_KEYWORD_LINE = re.compile(rf"^[ \t>*#]*({_KEYWORD})(?:[ \t]*\d+)?[ \t]*\**[ \t]*[:：]\**", re.MULTILINE | re.IGNORECASE)
# A stop word cut off mid-way at the end: after a newline any prefix ("\nO"), mid-line only from "Obs" on, so
# an answer that ends in the letter O keeps it.
_STOP_PREFIX = re.compile(
    r"(?:\n[ \t]*O(?:b(?:s(?:e(?:r(?:v(?:a(?:t(?:i(?:o(?:n)?)?)?)?)?)?)?)?)?)?"
    r"|[ \t]*Obs(?:e(?:r(?:v(?:a(?:t(?:i(?:o(?:n)?)?)?)?)?)?)?)?)[ \t]*$"
)
_NO_ACTION = {"", "none", "n/a", "na", "null", "no action", "nothing", "无"}


@dataclass(frozen=True)
class ParsedCall:
    """A tool call as written: `name` cleaned of decoration, `arguments` the raw input text."""

    name: str
    arguments: str


@dataclass(frozen=True)
class ReactOutput:
    """What a piece of model text asks for.

    kind: "tool_calls" (calls holds one or more), "final" (final_answer set) or "text" (neither keyword:
    the agent treats the text itself as the answer).
    text: the model's turn with any self-written Observation (and what follows) and a trailing half-written
    stop word removed.
    """

    kind: Literal["tool_calls", "final", "text"]
    thought: str = ""
    calls: tuple[ParsedCall, ...] = field(default_factory=tuple)
    final_answer: str | None = None
    text: str = ""

    @property
    def answer(self) -> str | None:
        """The answer this turn gives: the Final Answer, or the plain text when no keyword was used."""
        if self.kind == "final":
            return self.final_answer
        if self.kind == "text":
            return _strip_thought_prefix(self.text).strip()
        return None


def parse_react(text: str) -> ReactOutput:
    """Parse one model turn of ReAct text. Never raises."""
    try:
        return _parse(text if isinstance(text, str) else str(text))
    except Exception:  # noqa: BLE001 - the contract is "never raises"; a parser bug must not kill the agent
        log.exception("reading ReAct text failed; returning it as plain text")
        return ReactOutput(kind="text", text=str(text))


def _parse(text: str) -> ReactOutput:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sections = _sections(text)
    # A model that writes its own Observation is hallucinating the tool's result: drop it and what follows.
    for i, (key, start, _) in enumerate(sections):
        if key == "observation":
            sections, text = sections[:i], text[:start]
            break
    text = _STOP_PREFIX.sub("", text)
    if sections:
        key, start, body = sections[-1]
        sections[-1] = (key, start, _STOP_PREFIX.sub("", body))
    preamble = _preamble(text, sections)
    thought = _thought(preamble, sections)
    calls: list[ParsedCall] = []
    for i, (key, _, body) in enumerate(sections):
        if key == "final answer":
            if calls:
                break
            return ReactOutput(kind="final", thought=thought, final_answer=body.strip(), text=text)
        if key == "action":
            name = clean_tool_name(body)
            if name.lower() in _NO_ACTION:
                continue
            args = ""
            if i + 1 < len(sections) and sections[i + 1][0] == "action input":
                args = clean_action_input(sections[i + 1][2])
            calls.append(ParsedCall(name=name, arguments=args))
    if calls:
        return ReactOutput(kind="tool_calls", thought=thought, calls=tuple(calls), text=text)
    return ReactOutput(kind="text", thought=thought, text=text)


def _sections(text: str) -> list[tuple[str, int, str]]:
    """[(keyword lower-cased, start offset, body)] for every keyword line, in order."""
    matches = list(_KEYWORD_LINE.finditer(text))
    out = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        out.append((m.group(1).lower(), m.start(), text[m.end() : end]))
    return out


def _preamble(text: str, sections: list[tuple[str, int, str]]) -> str:
    return text[: sections[0][1]] if sections else text


def _thought(preamble: str, sections: list[tuple[str, int, str]]) -> str:
    parts = [preamble.strip()] if preamble.strip() else []
    for key, _, body in sections:
        if key != "thought":
            break
        parts.append(body.strip())
    return "\n".join(p for p in parts if p)


def _strip_thought_prefix(text: str) -> str:
    return re.sub(r"^\s*Thought\s*[:：]\s*", "", text, flags=re.IGNORECASE)


def clean_tool_name(raw: str) -> str:
    """The tool name out of what follows `Action:` (first line, decoration removed)."""
    line = raw.strip().split("\n", 1)[0].strip()
    line = re.sub(r"^(?:use|call|using|calling)\s+(?:the\s+)?", "", line, flags=re.IGNORECASE)
    line = re.sub(r"\s+(?:tool|api|function)\s*$", "", line, flags=re.IGNORECASE)
    m = re.match(r"^[`'\"\[(<*]+(.+?)[`'\"\])>*]+", line)
    if m:
        line = m.group(1)
    return line.strip().rstrip(".。,，;；:：").strip("`'\"*").strip()


def clean_action_input(raw: str) -> str:
    """The argument text out of what follows `Action Input:`: the object without fences or trailing prose."""
    body = raw.strip()
    if body.startswith("```"):
        body = strip_code_fence(body).strip()
    if body.startswith("{"):
        span = object_span(body)
        if span is not None:
            return body[span[0] : span[1]]
    return body


# --- the format -----------------------------------------------------------------------------------------------
class ReactFormat(ToolFormat):
    """Qwen's ReAct prompt in (English or Chinese instructions), ReAct text out. The Thought is the reasoning."""

    name = "react"
    results_in_scratchpad = True

    def __init__(self, lang: Lang = "en") -> None:
        if lang not in REACT_TEMPLATE:
            raise ConfigurationError(f"unknown ReAct language {lang!r}; use one of {sorted(REACT_TEMPLATE)}")
        self.lang = lang

    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> Rendered:
        prompt = build_react_messages(messages, tools, self.lang)
        if not tools:
            return Rendered(prompt)
        return Rendered(prompt, tuple(STOP_WORDS), self.forced_prefix(choice, tools))

    def forced_prefix(self, choice: ToolChoice, tools: Sequence[ToolSpec]) -> str:
        if choice.mode == "required" and len(tools) == 1:
            choice = ToolChoice("function", tools[0].name)
        if choice.mode == "function":
            return f"Action: {choice.name}\nAction Input: "
        return "Action: " if choice.mode == "required" else ""

    def _parse(self, text: str, tools: list[ToolSpec]) -> ParsedTurn:
        parsed = _parse(text)
        if parsed.kind == "tool_calls":
            calls = without_schema_echo([ToolCall(name=c.name, arguments=c.arguments) for c in parsed.calls], tools)
            return ParsedTurn(content="", reasoning=parsed.thought, tool_calls=calls)
        return ParsedTurn(content=parsed.answer or "", reasoning=parsed.thought)

    def reader(self, tools: Sequence[ToolSpec] = (), prefill: str = "") -> TurnReader:
        return ReactReader(self, tools, prefill)


_STREAM_KEYWORDS = ("thought", "action input", "action", "observation", "final answer")
_FINAL_LINE = re.compile(r"^[ \t>*#]*final answer[ \t]*\**[ \t]*[:：]", re.IGNORECASE | re.MULTILINE)


class ReactReader(TurnReader):
    """Shows the answer once `Final Answer:` has been written (the Thought before it is not part of it),
    holding back trailing whitespace and a last line that could still become a keyword. A turn that calls
    tools shows nothing."""

    def feed(self, delta: str) -> str:
        self._text += delta
        buffer = self._prefill + self._text
        if not _FINAL_LINE.search(buffer):
            return ""
        parsed = parse_react(buffer)
        if parsed.kind != "final" or parsed.final_answer is None:
            return ""
        answer = _hold_back(parsed.final_answer, buffer)
        if not answer.startswith(self.shown) or len(answer) <= len(self.shown):
            return ""
        out, self.shown = answer[len(self.shown) :], answer
        return out


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
    if any(k.startswith(line) for k in _STREAM_KEYWORDS):
        return True
    return any(line.startswith(k) for k in _STREAM_KEYWORDS) and ":" not in line and "：" not in line
