"""Hermes tool calls, the format of Qwen2.5, Qwen3 and QwQ chat templates.

What the model reads (the text of Qwen2.5's chat template, reproduced): the tools as one JSON line each inside
`<tools></tools>` at the end of the system turn, and the instruction to answer with
`<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`. Earlier calls are rendered as the template
renders them, and tool results go back in a user turn as `<tool_response>` blocks, consecutive results grouped.

What we read: tagged calls (closed or not), and, because small Qwen2.5 models often skip the tags, ```json
fenced or bare objects, counted as calls only when their name is an offered tool. See `json_calls` for the
object shapes accepted and `thinking` for reasoning.
"""

from __future__ import annotations

import re
from typing import ClassVar

from qwen_agent.formats.json_calls import array_end, dumps_json, read_calls, read_object_at
from qwen_agent.formats.native import (
    CALL_CLOSE,
    CALL_OPEN,
    NOT_A_BLOCK,
    PENDING,
    Block,
    CallBlock,
    DropMarkup,
    NativeFormat,
    Scanner,
    find_marker,
    marker_state,
    scan,
)
from qwen_agent.jsonish import object_span
from qwen_agent.schema import Message, ToolCall, ToolSpec

QWEN25_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
TOOLS_HEAD = (
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>"
)
TOOLS_TAIL = (
    "\n</tools>\n\nFor each function call, return a json object with function name and arguments within "
    '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}'
    "\n</tool_call>"
)


def render_call(call: ToolCall) -> str:
    """One call as the chat template writes it (arguments as an object; text that is not one, as written)."""
    args = call.parsed_arguments()
    args_text = dumps_json(args) if args is not None else call.arguments
    return f'{CALL_OPEN}\n{{"name": "{call.name}", "arguments": {args_text}}}\n{CALL_CLOSE}'


class HermesFormat(NativeFormat):
    """Qwen2.5 / Qwen3 / QwQ `<tool_call>` JSON.

    Args:
        default_system: the system text used when the conversation has none. Qwen2.5's template uses
            `QWEN25_DEFAULT_SYSTEM` (the default); Qwen3's uses none (pass None).
        resend_reasoning: give assistant turns after the last user question their reasoning back as a
            `<think>` block before the content, as Qwen3's template does within one tool-calling episode
            (read from a message's `reasoning_content`). Qwen2.5's template has no reasoning (the default).
        think_opened: see `NativeFormat`.
    """

    name: ClassVar[str] = "hermes"

    def __init__(self, *, default_system: str | None = QWEN25_DEFAULT_SYSTEM, resend_reasoning: bool = False,
                 think_opened: bool = False) -> None:
        super().__init__(think_opened=think_opened)
        self.default_system = default_system
        self.resend_reasoning = resend_reasoning

    # --- render ------------------------------------------------------------------------------------------
    def _system(self, system: str | None, tools: list[ToolSpec]) -> str | None:
        system = self.default_system if system is None else system
        if not tools:
            return system
        tool_lines = "".join("\n" + dumps_json(t.to_openai()) for t in tools)
        return ("" if system is None else system + "\n\n") + TOOLS_HEAD + tool_lines + TOOLS_TAIL

    def _assistant(self, m: Message, after_last_question: bool) -> Message:
        # `reasoning_content` is read when the message carries one (the schema field of the reasoning split)
        with_reasoning = self.resend_reasoning and after_last_question
        reasoning = (getattr(m, "reasoning_content", None) or "").strip("\n") if with_reasoning else ""
        if not m.tool_calls and not reasoning:
            return m
        content = (m.content or "").lstrip("\n") if reasoning else m.content or ""
        body = "\n".join(([content] if content else []) + [render_call(c) for c in m.tool_calls or []])
        return Message.assistant(f"<think>\n{reasoning}\n</think>\n\n{body}" if reasoning else body)

    def _named_call_prefix(self, name: str) -> str:
        return f'{CALL_OPEN}\n{{"name": "{name}", "arguments": '

    # --- read --------------------------------------------------------------------------------------------
    def _scanners(self, tools: list[ToolSpec]) -> list[Scanner]:
        scanners: list[Scanner] = [
            TaggedCalls(tools),
            DropMarkup(CALL_CLOSE),
            DropMarkup("<think>"),
            DropMarkup("</think>"),
        ]
        if tools:  # untagged objects can only be calls to offered tools
            scanners += [FencedCalls(tools), BareCall(tools), BareCallList(tools)]
        return scanners


class TaggedCalls(CallBlock):
    """`<tool_call>` ... up to `</tool_call>`, the next `<tool_call>`, or the end of the output."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        super().__init__(tools, CALL_OPEN, CALL_CLOSE, (CALL_OPEN,))

    def _search_from(self, text: str, after: int, final: bool) -> int | None:
        # An argument may itself hold "</tool_call>" (code, documents): look for the tag after the object ends.
        obj = len(text) - len(text[after:].lstrip())
        if not text.startswith("{", obj):
            return after
        span = object_span(text[obj:])
        if span is None and not final:
            return PENDING
        return obj + span[1] if span else after

    def _calls(self, body: str) -> tuple[list[ToolCall], str]:
        return read_calls(body, self.tools, trusted=True)


class FencedCalls(Scanner):
    """A ``` fence whose body is call objects (or tagged calls): the calls; any other fence: its text."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.tools = tools
        self.inner: list[Scanner] = [TaggedCalls(tools), DropMarkup(CALL_CLOSE)]

    def find(self, text: str, pos: int) -> int:
        return find_marker(text, pos, "```")

    def read(self, text: str, start: int, final: bool) -> Block | None:
        state = marker_state(text, start, "```", final)
        if state is not True:
            return PENDING if state is None else NOT_A_BLOCK
        header_end = text.find("\n", start + 3)
        if header_end == -1:
            return PENDING if not final else NOT_A_BLOCK
        brace = text.find("{", start + 3, header_end)  # ```json{"name": ...} on one line
        body_start = brace if brace != -1 else header_end + 1
        close = text.find("```", body_start)
        if close == -1 and not final:
            return PENDING
        body_end, end = (close, close + 3) if close != -1 else (len(text), len(text))
        body = text[body_start:body_end]
        if not body.lstrip().startswith(("{", "[", CALL_OPEN)):
            return Block(end, text[start:end])
        tagged = scan(body, 0, self.inner, final=True)
        calls, left = read_calls(tagged.content, self.tools, trusted=False)
        if not tagged.calls and not calls:
            return Block(end, text[start:end])
        return Block(end, left, tuple(tagged.calls + calls))


_BARE_START = re.compile(r"\{(?=\s*(?:[\"']|\Z))")


class BareCall(Scanner):
    """An object outside tags and fences: a call when its name is an offered tool; else its text."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.tools = tools

    def find(self, text: str, pos: int) -> int:
        m = _BARE_START.search(text, pos)
        return m.start() if m else -1

    def read(self, text: str, start: int, final: bool) -> Block | None:
        if not text[start + 1 :].strip():  # only "{" so far
            return PENDING if not final else NOT_A_BLOCK
        if not final and text.count("}", start) < text.count("{", start):
            return PENDING  # cannot have closed yet (braces inside strings only delay the answer to finish)
        balanced = _object_closes(text, start)
        if not balanced and not final:
            return PENDING
        value, end = read_object_at(text, start)
        calls, _ = read_calls(text[start:end], self.tools, trusted=False) if value is not None else ([], "")
        if not calls:
            return Block(end, text[start:end]) if balanced else NOT_A_BLOCK
        after = len(text) - len(text[end:].lstrip())
        if after == len(text) and not final:
            return PENDING  # a stray closing brace may follow
        if text.startswith("}", after):
            end = after + 1
        return Block(end, "", tuple(calls))


_LIST_START = re.compile(r"\[(?=\s*(?:\{|\Z))")


class BareCallList(Scanner):
    """A JSON array of objects outside tags and fences: its calls, when every object in it is one; else its text."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.tools = tools

    def find(self, text: str, pos: int) -> int:
        m = _LIST_START.search(text, pos)
        return m.start() if m else -1

    def read(self, text: str, start: int, final: bool) -> Block | None:
        if not final and (not text[start + 1 :].strip() or text.count("]", start) < text.count("[", start)):
            return PENDING
        end = array_end(text, start)
        if end is None:
            return PENDING if not final else NOT_A_BLOCK
        calls, left = read_calls(text[start + 1 : end - 1], self.tools, trusted=False)
        return Block(end, "", tuple(calls)) if calls and not left else Block(end, text[start:end])


def _object_closes(text: str, start: int) -> bool:
    return object_span(text[start:]) is not None


__all__ = ["HermesFormat", "QWEN25_DEFAULT_SYSTEM", "render_call"]
