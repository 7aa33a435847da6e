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

from qwen_agent.formats.json_calls import dumps_json, match_tool, read_calls
from qwen_agent.formats.native import CALL_CLOSE, CALL_OPEN, CallBlock, DropMarkup, NativeFormat, Scanner
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


class Qwen3CoderFormat(NativeFormat):
    """Qwen3-Coder / Qwen3.5 `<function=NAME>` XML calls.

    Args:
        default_system: the system text used with tools when the conversation has none (the template's).
        think_opened: see `NativeFormat` (Qwen3.5's thinking templates open `<think>` in the prompt).
    """

    name: ClassVar[str] = "qwen3_coder"
    call_markers: tuple[str, ...] = (CALL_OPEN, FUNCTION_OPEN)
    responses_end = "\n"  # the template ends each result block with a newline, the last one too

    def __init__(self, *, default_system: str = CODER_DEFAULT_SYSTEM, think_opened: bool = False) -> None:
        super().__init__(think_opened=think_opened)
        self.default_system = default_system

    # --- render ------------------------------------------------------------------------------------------
    def _system(self, system: str | None, tools: list[ToolSpec]) -> str | None:
        if not tools:
            return system
        head = self.default_system if system is None else system
        return head + TOOLS_HEAD + "".join(map(render_tool, tools)) + TOOLS_TAIL

    def _assistant(self, m: Message, after_last_question: bool) -> Message:
        if not m.tool_calls:
            return m
        lead = (m.content or "").strip()
        calls = "\n".join(render_call(c) for c in m.tool_calls)
        return Message.assistant(f"{lead}\n\n{calls}" if lead else calls)

    def _named_call_prefix(self, name: str) -> str:
        return f"{CALL_OPEN}\n{FUNCTION_OPEN}{name}>\n"

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


class XmlCalls(CallBlock):
    """A `<tool_call>` block, or a bare `<function=...>` block, up to its closing tag, the next call, or the end."""

    def __init__(self, tools: list[ToolSpec], opener: str) -> None:
        if opener == CALL_OPEN:  # a tool_call block ends at the next tool_call
            super().__init__(tools, CALL_OPEN, CALL_CLOSE, (CALL_OPEN,))
        else:  # a bare function at the next function or tool_call
            super().__init__(tools, FUNCTION_OPEN, "</function>", (CALL_OPEN, FUNCTION_OPEN), body_has_opener=True)

    def _calls(self, body: str) -> tuple[list[ToolCall], str]:
        return read_xml_calls(body, self.tools)


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
