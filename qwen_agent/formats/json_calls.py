"""Tool calls written as JSON-like objects, as Qwen models write them inside and outside `<tool_call>` tags.

Accepted shapes of one call: {"name": N, "arguments": {...}}, with `parameters` or `args` for `arguments`,
arguments given as a JSON string (or as a bare number, for a tool with one required number parameter), no
arguments at all, the arguments spread beside the name, OpenAI's
{"type": "function", "function": {...}} wrapper, and Python dict literals. Objects whose braces do not balance
(one missing, one extra) are repaired where the repair reads as an object.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from qwen_agent.jsonish import close_braces, loads_object, loads_value, object_span
from qwen_agent.schema import ToolCall, ToolSpec, normalize_tool_name

_ARGUMENT_KEYS = ("arguments", "parameters", "args")
_NAME_KEYS = ("name", "function", "tool", "tool_name", "function_name")
_ENVELOPE_KEYS = {"name", "type", "id", *_ARGUMENT_KEYS}
# What may be left around calls without meaning anything: whitespace, separators, brackets, fence markers.
_NEWLINE = re.compile(r"\n")
_NOISE = re.compile(r"(?:\s|[,;\[\]{}]|```[A-Za-z0-9_+-]*)*")


def dumps_json(value: Any) -> str:
    """JSON as the chat templates' `tojson` writes it (non-ASCII kept, `, ` and `: `), for any value a Python
    literal can hold: sets and tuples become lists, other keys and values their text."""
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return json.dumps(_jsonable(value), ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k if isinstance(k, str) else str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def match_tool(name: str, tools: Sequence[ToolSpec]) -> ToolSpec | None:
    """The offered tool a model meant by `name`: exact, then ignoring case, `-`/`_`, quotes and backticks."""
    for t in tools:
        if t.name == name:
            return t
    wanted = normalize_tool_name(name)
    for t in tools:
        if normalize_tool_name(t.name) == wanted or normalize_tool_name(t.human_name) == wanted:
            return t
    return None


def call_from_object(obj: Any, tools: Sequence[ToolSpec], *, trusted: bool) -> ToolCall | None:
    """The call `obj` describes, or None. Untrusted objects (not inside call markup) count only when their
    name matches an offered tool: a model answering with a JSON document must not run a tool."""
    if not isinstance(obj, dict):
        return None
    inner = obj.get("function")
    if isinstance(inner, dict) and not isinstance(obj.get("name"), str):
        obj = inner  # OpenAI's {"type": "function", "function": {"name": ..., "arguments": ...}}
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str) and obj[k].strip()), None)
    if name is None:
        return None
    tool = match_tool(name, tools)
    if tool is None and not trusted:
        return None
    call = ToolCall(name=tool.name if tool else name.strip(), arguments=_arguments_text(obj, tool))
    call_id = obj.get("id")  # a server's call id, kept by `server_reply_text`; a model rarely writes one
    return call.model_copy(update={"id": call_id}) if isinstance(call_id, str) and call_id.strip() else call


def _arguments_text(obj: dict[str, Any], tool: ToolSpec | None) -> str:
    key = next((k for k in _ARGUMENT_KEYS if k in obj), None)
    if key is None:  # no arguments key: a no-argument call, or the arguments spread beside the name
        spread = {k: v for k, v in obj.items() if k not in _ENVELOPE_KEYS and k not in _NAME_KEYS}
        return dumps_json(spread)
    args = obj[key]
    if args is None:
        return "{}"
    if isinstance(args, str):
        # arguments written as a JSON string; unreadable ones are kept as written (the tool reports them, and
        # the model can retry)
        decoded = loads_object(args) if args.strip() else {}
        return args if decoded is None else dumps_json(decoded)
    return dumps_json(_bare_number(args, tool))


def _bare_number(value: Any, tool: ToolSpec | None) -> Any:
    """A bare number given as the arguments (`"arguments": 3`, as Qwen2.5-Coder-0.5B writes after the forced
    prefix of a one-parameter tool) as the object for the tool's one required number parameter."""
    if tool is None or isinstance(value, bool) or not isinstance(value, int | float):
        return value
    props = tool.parameters.get("properties") or {}
    required = tool.parameters.get("required") or []
    kind = (props.get(required[0]) or {}).get("type") if len(required) == 1 else None
    return {required[0]: value} if kind in ("integer", "number") else value


def read_object_at(text: str, start: int) -> tuple[Any, int]:
    """The value of the object starting at `text[start] == "{"` and where it ends; (None, end) if unreadable.

    A balanced object is read as it stands. An unbalanced one (a closing brace never written) is closed at the
    last line end where closing it gives an object, so prose after it is not swallowed.
    """
    span = object_span(text[start:])
    if span is not None:
        end = start + span[1]
        return _loads(text[start:end]), end
    line_ends = [m.start() for m in _NEWLINE.finditer(text, start)] + [len(text)]
    for end in reversed(line_ends):
        value = _loads(close_braces(text[start:end].rstrip()))
        if isinstance(value, dict):
            return value, end
    return None, len(text)


def _loads(text: str) -> Any:
    try:
        return loads_value(text)
    except ValueError:
        return None


def array_end(text: str, start: int) -> int | None:
    """The end of the balanced `[...]` starting at `text[start]`, skipping brackets inside strings; None if open."""
    depth, quote, escaped = 0, "", False
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def read_calls(body: str, tools: Sequence[ToolSpec], *, trusted: bool) -> tuple[list[ToolCall], str]:
    """Every call among the top-level objects of `body`, and the text left around them (noise dropped).

    An object that is not a call, or cannot be read, stays in the left text, so nothing is lost."""
    calls: list[ToolCall] = []
    left: list[str] = []
    pos = 0
    while (start := body.find("{", pos)) != -1:
        left.append(body[pos:start])
        value, end = read_object_at(body, start)
        call = call_from_object(value, tools, trusted=trusted)
        if call is None:
            left.append(body[start:end])
        else:
            calls.append(call)
        pos = end
    left.append(body[pos:])
    rest = "".join(left)
    return calls, "" if _NOISE.fullmatch(rest) else rest.strip()


_FENCE = re.compile(r"^```[A-Za-z0-9_+-]*\s*|\s*```$")


def written_call(text: str) -> str | None:
    """The tool name, when the whole of `text` is one call object (fenced or not) naming it; else None. The
    0.5B answers "Tell me a joke about cats" with `{"name": "cat_joke", "arguments": {...}}`, a tool nobody
    offered, which no reader takes as a call: it is no answer either."""
    body = _FENCE.sub("", text.strip())
    if not body.startswith("{"):
        return None
    value, end = read_object_at(body, 0)
    if not isinstance(value, dict) or body[end:].strip() or not any(k in value for k in _ARGUMENT_KEYS):
        return None
    name = value.get("name")
    return name if isinstance(name, str) and name.strip() else None
