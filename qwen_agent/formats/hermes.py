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
from collections.abc import Callable
from typing import ClassVar

from qwen_agent.formats.base import Rendered, ToolChoice
from qwen_agent.formats.json_calls import array_end, dumps_json, read_calls, read_object_at
from qwen_agent.formats.native import (
    NOT_A_BLOCK,
    PENDING,
    Block,
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
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def render_call(call: ToolCall) -> str:
    """One call as the chat template writes it (arguments as an object; text that is not one, as written)."""
    args = call.parsed_arguments()
    args_text = dumps_json(args) if args is not None else call.arguments
    return f'{CALL_OPEN}\n{{"name": "{call.name}", "arguments": {args_text}}}\n{CALL_CLOSE}'


def tool_responses(results: list[Message]) -> str:
    return "\n".join(f"<tool_response>\n{m.content or ''}\n</tool_response>" for m in results)


def group_tool_results(messages: list[Message], render_results: Callable[[list[Message]], str]) -> list[Message]:
    """`messages` with each run of consecutive `tool` messages turned into one user message."""
    out: list[Message] = []
    run: list[Message] = []
    for m in [*messages, None]:
        if m is not None and m.role == "tool":
            run.append(m)
            continue
        if run:
            out.append(Message.user(render_results(run)))
            run = []
        if m is not None:
            out.append(m)
    return out


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
    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> Rendered:
        show_tools = bool(tools) and choice.mode != "none"
        system = messages[0].content or "" if messages and messages[0].role == "system" else self.default_system
        rest = messages[1:] if messages and messages[0].role == "system" else messages
        prompt: list[Message] = []
        if show_tools:
            tool_lines = "".join("\n" + dumps_json(t.to_openai()) for t in tools)
            head = "" if system is None else system + "\n\n"
            prompt.append(Message.system(head + TOOLS_HEAD + tool_lines + TOOLS_TAIL))
        elif system is not None:
            prompt.append(Message.system(system))
        last_query = max((i for i, m in enumerate(rest) if m.role == "user"), default=-1)
        history = [self.verbatim(m, tools) or self._history(m, self.resend_reasoning and i > last_query)
                   for i, m in enumerate(rest)]
        prompt += group_tool_results(history, tool_responses)
        return Rendered(prompt=prompt, prefill=self._prefill(choice) if show_tools else "")

    @staticmethod
    def _history(m: Message, with_reasoning: bool) -> Message:
        if m.role != "assistant":
            return m
        # `reasoning_content` is read when the message carries one (the schema field of the reasoning split)
        reasoning = (getattr(m, "reasoning_content", None) or "").strip("\n") if with_reasoning else ""
        if not m.tool_calls and not reasoning:
            return m
        content = (m.content or "").lstrip("\n") if reasoning else m.content or ""
        body = "\n".join(([content] if content else []) + [render_call(c) for c in m.tool_calls or []])
        return Message.assistant(f"<think>\n{reasoning}\n</think>\n\n{body}" if reasoning else body)

    @staticmethod
    def _prefill(choice: ToolChoice) -> str:
        if choice.mode == "function" and choice.name:
            return f'{CALL_OPEN}\n{{"name": "{choice.name}", "arguments": '
        return CALL_OPEN + "\n" if choice.mode in ("required", "function") else ""

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


class TaggedCalls(Scanner):
    """`<tool_call>` ... up to `</tool_call>`, the next `<tool_call>`, or the end of the output."""

    def __init__(self, tools: list[ToolSpec]) -> None:
        self.tools = tools

    def find(self, text: str, pos: int) -> int:
        return find_marker(text, pos, CALL_OPEN)

    def read(self, text: str, start: int, final: bool) -> Block | None:
        state = marker_state(text, start, CALL_OPEN, final)
        if state is not True:
            return PENDING if state is None else NOT_A_BLOCK
        body_start = start + len(CALL_OPEN)
        if not final and CALL_CLOSE not in text[body_start:] and CALL_OPEN not in text[body_start:]:
            return PENDING  # nothing can end the block yet; skip the scan below on every streamed piece
        # An argument may itself hold "</tool_call>" (code, documents): look for the tag after the object ends.
        search_from = body_start
        obj = len(text) - len(text[body_start:].lstrip())
        if text.startswith("{", obj):
            span = object_span(text[obj:])
            if span is None and not final:
                return PENDING
            search_from = obj + span[1] if span else body_start
        close, nxt = text.find(CALL_CLOSE, search_from), text.find(CALL_OPEN, search_from)
        if close != -1 and (nxt == -1 or close < nxt):
            body_end, end = close, close + len(CALL_CLOSE)
        elif nxt != -1:
            body_end = end = nxt
        elif final:
            body_end = end = len(text)
        else:
            return PENDING
        body = text[body_start:body_end]
        if not body.strip():
            return Block(end)  # an empty block (e.g. a forced call the model ended at once): no text, no call
        calls, left = read_calls(body, self.tools, trusted=True)
        if not calls:
            return Block(end, text[start:end])  # unreadable: kept as written
        return Block(end, left, tuple(calls))


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
