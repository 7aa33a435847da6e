"""The two helpers under the native formats: where reasoning ends, and how XML text values get their types."""

from __future__ import annotations

import pytest

from qwen_agent.formats.thinking import ThinkSplit, split_thinking
from qwen_agent.formats.values import convert_value, schema_types

MARKERS = ("<tool_call>",)


@pytest.mark.parametrize(("text", "opened", "expected"), [
    ("<think>\nplan\n</think>\n\nanswer", False, ThinkSplit("plan", 21)),
    ("  \n<think>a</think>b", False, ThinkSplit("a", 19)),
    ("answer <think>x</think>", False, ThinkSplit("", 0)),  # not at the start: not reasoning
    ("plan</think>answer", True, ThinkSplit("plan", 12)),
    ("<think>\nplan</think>answer", True, ThinkSplit("plan", 20)),  # a repeated <think> is dropped
    ("<think>plan <tool_call>{}", False, ThinkSplit("plan", 12)),
    ("plan only", True, ThinkSplit("plan only", 9)),
])
def test_split_thinking(text: str, opened: bool, expected: ThinkSplit) -> None:
    assert split_thinking(text, opened=opened, call_markers=MARKERS) == expected


@pytest.mark.parametrize(("text", "opened"), [
    ("", False), ("  ", False), ("<thi", False), ("<think>still going", False),
    ("<think>a <tool_call>{}</tool_call>", False),  # a </think> may still come: the call may be reasoning
    ("thinking", True), ("thinking </thi", True),
])
def test_split_waits_while_streaming(text: str, opened: bool) -> None:
    assert split_thinking(text, opened=opened, call_markers=MARKERS, final=False) is None


def test_split_settles_once_the_start_cannot_be_a_think_tag() -> None:
    assert split_thinking("Hi", opened=False, call_markers=MARKERS, final=False) == ThinkSplit("", 0)


@pytest.mark.parametrize(("schema", "types"), [
    ({"type": "integer"}, ["integer"]),
    ({"type": ["string", "null"]}, ["null", "string"]),  # strings accept anything, so they are tried last
    ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, ["integer", "string"]),
    ({"properties": {}}, ["object"]),
    ({"description": "free"}, ["object", "array"]),
    (None, []),
])
def test_schema_types(schema, types: list[str]) -> None:
    assert schema_types(schema) == types


@pytest.mark.parametrize(("text", "schema", "value"), [
    ("7", {"type": "integer"}, 7),
    ("7", {"type": "int"}, 7),  # Python type names in hand-written schemas
    ("0.5", {"type": "float"}, 0.5),
    ("1e-3", {"type": "number"}, 0.001),
    ("TRUE", {"type": "boolean"}, True),
    ("none", {"type": ["integer", "null"]}, None),
    ("(1, 2)", {"type": "array"}, "(1, 2)"),  # a tuple literal is not an array: kept as written
    ("{'a': [1]}", {"type": "object"}, {"a": [1]}),
    (" 7 ", {"type": "string"}, " 7 "),
    ("7", None, "7"),
])
def test_convert_value(text: str, schema, value) -> None:
    assert convert_value(text, schema) == value
