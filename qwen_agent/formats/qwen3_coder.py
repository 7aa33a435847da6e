"""Qwen3-Coder XML tool calls (Qwen3-Coder; Qwen3.5 writes calls the same way).

What the model reads (the text of Qwen3-Coder's chat template, reproduced): each tool as `<function>` markup with
`<name>`, `<description>` and one `<parameter>` per property (`<name>`, `<type>`, `<description>`, other schema
keys as tags of their own) inside `<tools>`, then the instruction to answer with
`<tool_call>\\n<function=NAME>\\n<parameter=KEY>\\nvalue\\n</parameter>\\n</function>\\n</tool_call>`. Earlier calls are
written the same way (objects and arrays as JSON, other values as text); results go back in a user turn as
`<tool_response>` blocks, consecutive results grouped.

What we read: `<function=...>` blocks inside `<tool_call>` or without it (a known slip of these models), with
missing closing tags tolerated; values typed by the offered tool's schema (`values`), strings byte for byte
less the one leading and trailing newline the format adds. A `<tool_call>` holding JSON (the hermes shape) is
read too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

from qwen_agent.formats.base import Rendered, ToolChoice
from qwen_agent.formats.hermes import CALL_CLOSE, CALL_OPEN, group_tool_results
from qwen_agent.formats.json_calls import dumps_json, match_tool, read_calls
from qwen_agent.formats.native import (
    NOT_A_BLOCK,
    PENDING,
    Block,
    DropMarkup,
    NativeFormat,
    Scanner,
    find_marker,
    marker_state,
)
from qwen_agent.formats.values import convert_value
from qwen_agent.jsonish import loads_object
from qwen_agent.schema import Message, ToolCall, ToolSpec

CODER_DEFAULT_SYSTEM = "You are Qwen, a helpful AI assistant that can interact with a computer to solve tasks."
TOOLS_HEAD = "\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>"
TOOLS_TAIL = (
    "\n</tools>\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
    "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n"
    "</parameter>\n</function>\n</tool_call>\n\n<IMPORTANT>\nReminder:\n"
    "- Function calls MUST follow the specified format: an inner <function=...></function> block must be nested "
    "within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n"
    "- You may provide optional reasoning for your function call in natural language BEFORE the function call, "
    "but NOT after\n"
    "- If there is no function call available, answer the question like normal with your current knowledge and do "
    "not tell the user about function calls\n</IMPORTANT>"
)
FUNCTION_OPEN = "<function="


def _text(value: Any) -> str:
    """A value as the template prints it: objects and arrays as JSON, anything else as Python's str()."""
    if isinstance(value, (dict, list, tuple)):
        return dumps_json(value)
    return str(value)


def _extra_keys(fields: Any, handled: Sequence[str]) -> str:
    if not isinstance(fields, dict):
        return ""
    return "".join(f"\n<{k}>{_text(v)}</{k}>" for k, v in fields.items() if k not in handled)


def render_tool(tool: ToolSpec) -> str:
    """One tool as the template's `<function>` markup."""
    out = f"\n<function>\n<name>{tool.name}</name>\n<description>{tool.description.strip()}</description>"
    out += "\n<parameters>"
    params = tool.parameters
    props = params.get("properties") if isinstance(params, dict) else None
    for pname, fields in (props or {}).items() if isinstance(props, dict) else ():
        out += f"\n<parameter>\n<name>{pname}</name>"
        if isinstance(fields, dict) and "type" in fields:
            out += f"\n<type>{fields['type']}</type>"  # as the template prints it: a list in Python's repr
        if isinstance(fields, dict) and "description" in fields:
            out += f"\n<description>{str(fields['description']).strip()}</description>"
        out += _extra_keys(fields, ("name", "type", "description")) + "\n</parameter>"
    return out + _extra_keys(params, ("type", "properties")) + "\n</parameters>\n</function>"


def render_call(call: ToolCall) -> str:
    """One call as the template writes it; arguments that are not an object go inside the function as written."""
    args = call.parsed_arguments()
    if args is None:
        inner = call.arguments + "\n"
    else:
        inner = "".join(f"<parameter={k}>\n{_text(v)}\n</parameter>\n" for k, v in args.items())
    return f"{CALL_OPEN}\n{FUNCTION_OPEN}{call.name}>\n{inner}</function>\n{CALL_CLOSE}"


def tool_responses(results: list[Message]) -> str:
    return "".join(f"<tool_response>\n{m.content or ''}\n</tool_response>\n" for m in results)


class Qwen3CoderFormat(NativeFormat):
    """Qwen3-Coder / Qwen3.5 `<function=NAME>` XML calls.

    Args:
        default_system: the system text used with tools when the conversation has none (the template's).
        think_opened: see `NativeFormat` (Qwen3.5's thinking templates open `<think>` in the prompt).
    """

    name: ClassVar[str] = "qwen3_coder"
    call_markers: tuple[str, ...] = (CALL_OPEN, FUNCTION_OPEN)

    def __init__(self, *, default_system: str = CODER_DEFAULT_SYSTEM, think_opened: bool = False) -> None:
        super().__init__(think_opened=think_opened)
        self.default_system = default_system

    # --- render ------------------------------------------------------------------------------------------
    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> Rendered:
        show_tools = bool(tools) and choice.mode != "none"
        has_system = bool(messages) and messages[0].role == "system"
        system = (messages[0].content or "") if has_system else None
        rest = messages[1:] if has_system else messages
        prompt: list[Message] = []
        if show_tools:
            head = self.default_system if system is None else system
            prompt.append(Message.system(head + TOOLS_HEAD + "".join(map(render_tool, tools)) + TOOLS_TAIL))
        elif system is not None:
            prompt.append(Message.system(system))
        prompt += group_tool_results([self.verbatim(m, tools) or self._history(m) for m in rest], tool_responses)
        return Rendered(prompt=prompt, prefill=self._prefill(choice) if show_tools else "")

    @staticmethod
    def _history(m: Message) -> Message:
        if m.role != "assistant" or not m.tool_calls:
            return m
        lead = (m.content or "").strip()
        calls = "\n".join(render_call(c) for c in m.tool_calls)
        return Message.assistant(f"{lead}\n\n{calls}" if lead else calls)

    @staticmethod
    def _prefill(choice: ToolChoice) -> str:
        if choice.mode == "function" and choice.name:
            return f"{CALL_OPEN}\n{FUNCTION_OPEN}{choice.name}>\n"
        return CALL_OPEN + "\n" if choice.mode in ("required", "function") else ""

    # --- read --------------------------------------------------------------------------------------------
    def _scanners(self, tools: list[ToolSpec]) -> list[Scanner]:
        return [
            XmlCalls(tools, CALL_OPEN),
            XmlCalls(tools, FUNCTION_OPEN),
            DropMarkup(CALL_CLOSE),
            DropMarkup("</function>"),
            DropMarkup("<think>"),
            DropMarkup("</think>"),
        ]


class XmlCalls(Scanner):
    """A `<tool_call>` block, or a bare `<function=...>` block, up to its closing tag, the next call, or the end."""

    def __init__(self, tools: list[ToolSpec], opener: str) -> None:
        self.tools = tools
        self.opener = opener
        self.closer = CALL_CLOSE if opener == CALL_OPEN else "</function>"

    def find(self, text: str, pos: int) -> int:
        return find_marker(text, pos, self.opener)

    def read(self, text: str, start: int, final: bool) -> Block | None:
        state = marker_state(text, start, self.opener, final)
        if state is not True:
            return PENDING if state is None else NOT_A_BLOCK
        after = start + len(self.opener)
        close = text.find(self.closer, after)
        # a tool_call block ends at the next tool_call; a bare function at the next function or tool_call
        starts = (CALL_OPEN,) if self.opener == CALL_OPEN else (CALL_OPEN, FUNCTION_OPEN)
        nxt = min((i for i in (text.find(m, after) for m in starts) if i != -1), default=-1)
        if close != -1 and (nxt == -1 or close < nxt):
            body_end, end = close, close + len(self.closer)
        elif nxt != -1:
            body_end = end = nxt
        elif final:
            body_end = end = len(text)
        else:
            return PENDING
        body_start = start if self.opener == FUNCTION_OPEN else after
        if not text[body_start:body_end].strip():
            return Block(end)  # an empty block (e.g. a forced call the model ended at once): no text, no call
        calls, left = read_xml_calls(text[body_start:body_end], self.tools)
        if not calls:
            return Block(end, text[start:end])  # unreadable: kept as written
        return Block(end, left, tuple(calls))


_FUNCTION = re.compile(r"<function\s*=\s*([^>\n]*)>?")
_PARAMETER = re.compile(r"<parameter\s*=\s*([^>\n]*)>")
_PARAM_CLOSE = "</parameter>"


def read_xml_calls(body: str, tools: Sequence[ToolSpec]) -> tuple[list[ToolCall], str]:
    """The `<function=...>` calls in `body` (a JSON object when there is none) and the text left around them."""
    heads = list(_FUNCTION.finditer(body))
    if not heads:
        return read_calls(body, tools, trusted=True)
    calls, left = [], [body[: heads[0].start()]]
    for k, head in enumerate(heads):
        limit = heads[k + 1].start() if k + 1 < len(heads) else len(body)
        region = body[head.end():limit]
        close = region.rfind("</function>")
        if close != -1:
            left.append(region[close + len("</function>"):])
            region = region[:close]
        call = _function_call(_clean_name(head.group(1)), region, tools)
        if call is None:
            left.append(body[head.start():limit])
        else:
            calls.append(call)
    rest = "".join(left).strip()
    return calls, rest


def _function_call(name: str, region: str, tools: Sequence[ToolSpec]) -> ToolCall | None:
    if not name:
        return None
    tool = match_tool(name, tools)
    props = tool.parameters.get("properties") if tool and isinstance(tool.parameters, dict) else None
    props = props if isinstance(props, dict) else {}
    heads = list(_PARAMETER.finditer(region))
    if not heads and region.strip():  # <function=name>{"json": "arguments"}</function>
        args = loads_object(region)
        if args is None:
            return None
    else:
        args = {}
        for k, head in enumerate(heads):
            limit = heads[k + 1].start() if k + 1 < len(heads) else len(region)
            key = _clean_name(head.group(1))
            args[key] = convert_value(_parameter_text(region[head.end():limit]), props.get(key))
    return ToolCall(name=tool.name if tool else name, arguments=dumps_json(args))


def _parameter_text(segment: str) -> str:
    """A parameter's value: up to its last `</parameter>` (a value may itself hold that text), less the one
    newline the format puts after the opening tag and before the closing one."""
    close = segment.rfind(_PARAM_CLOSE)
    value = segment[:close] if close != -1 else segment
    value = value[1:] if value.startswith("\n") else value
    return value[:-1] if value.endswith("\n") else value


def _clean_name(raw: str) -> str:
    return raw.strip().strip("\"'` ").strip()
