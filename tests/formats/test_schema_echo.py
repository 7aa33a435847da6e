"""Schema keywords a model copies into its arguments are dropped; everything else is kept exactly."""

from __future__ import annotations

import json
import logging

import pytest

from qwen_agent import tool
from qwen_agent.errors import ToolArgumentError
from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.formats.qwen3_coder import Qwen3CoderFormat
from qwen_agent.formats.react import ReactFormat
from qwen_agent.formats.schema_echo import is_schema_echo
from qwen_agent.function_calling import build_request
from qwen_agent.schema import ToolSpec

CALC_SCHEMA = {
    "type": "object",
    "properties": {"expression": {"type": "string", "description": "The expression"}},
    "required": ["expression"],
}
CALC = ToolSpec(name="calculator", description="Evaluate arithmetic.", parameters=CALC_SCHEMA)
# A tool whose `type` is a real parameter: a model's "type" is its argument, never an echo.
SHAPE = ToolSpec(name="make_shape", parameters={
    "type": "object",
    "properties": {"type": {"type": "string", "enum": ["object", "circle"]}, "size": {"type": "integer"}},
    "required": ["type"],
})
OPEN = ToolSpec(name="tag", parameters={"type": "object", "properties": {"label": {"type": "string"}},
                                        "additionalProperties": True})


def hermes_args(arguments: dict, tools: list[ToolSpec] = (CALC,)) -> dict | None:
    text = json.dumps({"name": tools[0].name, "arguments": arguments})
    (call,) = HermesFormat().parse(f"<tool_call>\n{text}\n</tool_call>", tools=list(tools)).tool_calls
    return json.loads(call.arguments)


def test_the_recorded_type_object_echo_is_dropped() -> None:
    assert hermes_args({"expression": "2 ** 20", "type": "object"}) == {"expression": "2 ** 20"}


@pytest.mark.parametrize("echo", [
    {"properties": {"expression": {"type": "string", "description": "The expression"}}},  # verbatim
    {"properties": {"expression": {"type": "string"}}},  # a trimmed copy: names a parameter, schema keywords only
    {"required": ["expression"]},
    {"type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]},
], ids=["properties-verbatim", "properties-mirror", "required", "all-three"])
def test_echoed_keywords_are_dropped_and_the_value_kept(echo: dict) -> None:
    assert hermes_args({"expression": "6 * 7", **echo}) == {"expression": "6 * 7"}


@pytest.mark.parametrize("extra", [
    {"type": "string"},  # not the schema's value
    {"required": ["precision"]},  # names no parameter of the tool
    {"properties": {"expression": "6 * 7"}},  # a value, not a sub-schema: the model's argument, wrapped
    {"properties": {"precision": {"type": "integer"}}},  # a parameter the tool does not have
    {"description": "Evaluate arithmetic."},  # the tool's description, but not a keyword of its schema
    {"precision": 3},  # an ordinary unknown key
], ids=["type-string", "required-unknown", "properties-values", "properties-unknown", "description", "unknown"])
def test_other_extra_keys_are_kept_exactly(extra: dict) -> None:
    assert hermes_args({"expression": "6 * 7", **extra}) == {"expression": "6 * 7", **extra}


def test_a_real_type_parameter_is_kept() -> None:
    assert hermes_args({"type": "object", "size": 3}, [SHAPE]) == {"type": "object", "size": 3}


def test_a_tool_taking_any_key_keeps_them() -> None:
    assert hermes_args({"label": "x", "type": "object"}, [OPEN]) == {"label": "x", "type": "object"}


def test_a_call_to_a_tool_not_offered_is_left_alone() -> None:
    text = '<tool_call>\n{"name": "unknown_tool", "arguments": {"q": 1, "type": "object"}}\n</tool_call>'
    (call,) = HermesFormat().parse(text, tools=[CALC]).tool_calls
    assert (call.name, json.loads(call.arguments)) == ("unknown_tool", {"q": 1, "type": "object"})


def test_an_untouched_call_keeps_its_argument_text() -> None:
    text = 'Action: calculator\nAction Input: {"expression":"1+1"}\n'
    (call,) = ReactFormat().parse(text, tools=[CALC]).tool_calls
    assert call.arguments == '{"expression":"1+1"}'  # as the model wrote it: nothing was dropped


def test_react_and_qwen3_coder_drop_it_too() -> None:
    react = ReactFormat().parse('Action: calculator\nAction Input: {"expression": "9 - 2", "type": "object"}\n',
                                tools=[CALC])
    xml = ("<tool_call>\n<function=calculator>\n<parameter=expression>\n9 - 2\n</parameter>\n"
           "<parameter=type>\nobject\n</parameter>\n</function>\n</tool_call>")
    coder = Qwen3CoderFormat().parse(xml, tools=[CALC])
    assert [json.loads(c.arguments) for c in react.tool_calls] == [{"expression": "9 - 2"}]
    assert [json.loads(c.arguments) for c in coder.tool_calls] == [{"expression": "9 - 2"}]


def test_the_drop_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="qwen_agent.formats.schema_echo"):
        hermes_args({"expression": "1", "type": "object"})
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "['type']" in caplog.records[0].getMessage() and "calculator" in caplog.records[0].getMessage()


def test_the_request_policy_returns_the_cleaned_call_and_the_tool_still_rejects_unknown_keys() -> None:
    @tool
    def calculator(expression: str) -> str:
        """Evaluate arithmetic.

        Args:
            expression: the expression
        """
        return f"got {expression}"

    request = build_request(HermesFormat(), [calculator.spec])
    echoed = request.read('{"name": "calculator", "arguments": {"expression": "2 ** 10", "type": "object"}}')
    (call,) = echoed.message.tool_calls
    assert calculator.call(call.arguments) == "got 2 ** 10"
    unknown = request.read('{"name": "calculator", "arguments": {"expression": "2 ** 10", "base": 2}}')
    with pytest.raises(ToolArgumentError, match="base"):
        calculator.call(unknown.message.tool_calls[0].arguments)


def test_is_schema_echo_direct_cases() -> None:
    assert is_schema_echo("type", "object", CALC_SCHEMA)
    assert not is_schema_echo("type", "object", {"properties": {"a": {}}})  # the schema has no "type" to copy
    assert not is_schema_echo("required", [], CALC_SCHEMA)  # an empty list names nothing
    assert not is_schema_echo("expression", "object", CALC_SCHEMA)  # a parameter, whatever its value
