"""What each format shows the model, against prompt text written out by hand from the checkpoints' templates.

The conversation: two tools, a turn with prose and two calls, both results, an answer, a follow-up question, a
call without prose and its result. The expected text is the chat template's output for the same conversation
(Qwen2.5's template for hermes, Qwen3-Coder's for qwen3_coder), typed out here line by line.
"""

from __future__ import annotations

import json

import pytest

from qwen_agent.formats.base import ToolChoice
from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.formats.qwen3_coder import Qwen3CoderFormat
from qwen_agent.prompts.chatml import render_chatml
from qwen_agent.schema import Message, ToolCall, ToolSpec

WEATHER = ToolSpec(
    name="get_weather", description="Get the weather.",
    parameters={"type": "object", "properties": {"city": {"type": "string", "description": "City name"}},
                "required": ["city"]},
)
CONVERT = ToolSpec(
    name="convert", description="Convert money.\n",
    parameters={"type": "object", "properties": {"amount": {"type": "number"},
                                                 "to": {"type": "string", "enum": ["EUR", "USD"]}}},
)
TOOLS = [WEATHER, CONVERT]


def conversation(system: str | None = None) -> list[Message]:
    weather = ToolCall(id="1", name="get_weather", arguments='{"city": "Paris"}')
    money = ToolCall(id="2", name="convert", arguments='{"amount": 10, "to": "EUR"}')
    again = ToolCall(id="3", name="get_weather", arguments='{"city": "北京"}')
    return [*([Message.system(system)] if system else []),
            Message.user("Weather in Paris? And 10 USD in EUR?"),
            Message.assistant("Checking both.", [weather, money]),
            Message.tool("18 C", tool_call_id="1"),
            Message.tool("9.2", tool_call_id="2"),
            Message.assistant("18 C, and 9.2 EUR."),
            Message.user("And in Beijing?"),
            Message.assistant(None, [again]),
            Message.tool("25 C", tool_call_id="3")]


def text_of(fmt, messages, tools=TOOLS, choice=None) -> str:
    return render_chatml(fmt.render(messages, tools, choice).prompt, default_system=None)


HERMES_TOOLS = (
    "# Tools\n\n"
    "You may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n"
    "<tools>\n"
    '{"type": "function", "function": {"name": "get_weather", "description": "Get the weather.", "parameters": '
    '{"type": "object", "properties": {"city": {"type": "string", "description": "City name"}}, "required": ["city"]}}}\n'
    '{"type": "function", "function": {"name": "convert", "description": "Convert money.\\n", "parameters": '
    '{"type": "object", "properties": {"amount": {"type": "number"}, "to": {"type": "string", "enum": ["EUR", "USD"]}}}}}\n'
    "</tools>\n\n"
    "For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n"
    "<tool_call>\n"
    '{"name": <function-name>, "arguments": <args-json-object>}\n'
    "</tool_call>"
)
HERMES_TURNS = (
    "<|im_start|>user\nWeather in Paris? And 10 USD in EUR?<|im_end|>\n"
    "<|im_start|>assistant\nChecking both.\n"
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
    '<tool_call>\n{"name": "convert", "arguments": {"amount": 10, "to": "EUR"}}\n</tool_call><|im_end|>\n'
    "<|im_start|>user\n<tool_response>\n18 C\n</tool_response>\n<tool_response>\n9.2\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n18 C, and 9.2 EUR.<|im_end|>\n"
    "<|im_start|>user\nAnd in Beijing?<|im_end|>\n"
    '<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "北京"}}\n</tool_call><|im_end|>\n'
    "<|im_start|>user\n<tool_response>\n25 C\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_hermes_qwen25_conversation() -> None:
    expected = ("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n"
                + HERMES_TOOLS + "<|im_end|>\n" + HERMES_TURNS)
    assert text_of(HermesFormat(), conversation()) == expected


def test_hermes_own_system_message_comes_first() -> None:
    expected = "<|im_start|>system\nYou plan trips.\n\n" + HERMES_TOOLS + "<|im_end|>\n" + HERMES_TURNS
    assert text_of(HermesFormat(), conversation("You plan trips.")) == expected


def test_hermes_qwen3_has_no_default_system() -> None:
    expected = "<|im_start|>system\n" + HERMES_TOOLS + "<|im_end|>\n" + HERMES_TURNS
    assert text_of(HermesFormat(default_system=None), conversation()) == expected


CODER_TOOLS = (
    "\n\n# Tools\n\nYou have access to the following functions:\n\n<tools>\n"
    "<function>\n<name>get_weather</name>\n<description>Get the weather.</description>\n<parameters>\n"
    "<parameter>\n<name>city</name>\n<type>string</type>\n<description>City name</description>\n</parameter>\n"
    '<required>["city"]</required>\n</parameters>\n</function>\n'
    "<function>\n<name>convert</name>\n<description>Convert money.</description>\n<parameters>\n"
    "<parameter>\n<name>amount</name>\n<type>number</type>\n</parameter>\n"
    '<parameter>\n<name>to</name>\n<type>string</type>\n<enum>["EUR", "USD"]</enum>\n</parameter>\n'
    "</parameters>\n</function>\n</tools>\n\n"
    "If you choose to call a function ONLY reply in the following format with NO suffix:\n\n"
    "<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>\nvalue_1\n</parameter>\n"
    "<parameter=example_parameter_2>\nThis is the value for the second parameter\nthat can span\nmultiple lines\n"
    "</parameter>\n</function>\n</tool_call>\n\n"
    "<IMPORTANT>\nReminder:\n"
    "- Function calls MUST follow the specified format: an inner <function=...></function> block must be nested "
    "within <tool_call></tool_call> XML tags\n"
    "- Required parameters MUST be specified\n"
    "- You may provide optional reasoning for your function call in natural language BEFORE the function call, "
    "but NOT after\n"
    "- If there is no function call available, answer the question like normal with your current knowledge and "
    "do not tell the user about function calls\n"
    "</IMPORTANT>"
)
CODER_TURNS = (
    "<|im_start|>user\nWeather in Paris? And 10 USD in EUR?<|im_end|>\n"
    "<|im_start|>assistant\nChecking both.\n\n"
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>\n"
    "<tool_call>\n<function=convert>\n<parameter=amount>\n10\n</parameter>\n<parameter=to>\nEUR\n</parameter>\n"
    "</function>\n</tool_call><|im_end|>\n"
    "<|im_start|>user\n<tool_response>\n18 C\n</tool_response>\n<tool_response>\n9.2\n</tool_response>\n<|im_end|>\n"
    "<|im_start|>assistant\n18 C, and 9.2 EUR.<|im_end|>\n"
    "<|im_start|>user\nAnd in Beijing?<|im_end|>\n"
    "<|im_start|>assistant\n<tool_call>\n<function=get_weather>\n<parameter=city>\n北京\n</parameter>\n</function>\n"
    "</tool_call><|im_end|>\n"
    "<|im_start|>user\n<tool_response>\n25 C\n</tool_response>\n<|im_end|>\n"
    "<|im_start|>assistant\n"
)


def test_qwen3_coder_conversation() -> None:
    expected = ("<|im_start|>system\nYou are Qwen, a helpful AI assistant that can interact with a computer to solve "
                "tasks." + CODER_TOOLS + "<|im_end|>\n" + CODER_TURNS)
    assert text_of(Qwen3CoderFormat(), conversation()) == expected


def test_qwen3_coder_own_system_message() -> None:
    expected = "<|im_start|>system\nYou plan trips." + CODER_TOOLS + "<|im_end|>\n" + CODER_TURNS
    assert text_of(Qwen3CoderFormat(), conversation("You plan trips.")) == expected


def test_qwen3_coder_history_values_print_as_the_template_does() -> None:
    alarm = ToolSpec(name="alarm", parameters={"type": "object", "properties": {"label": {"type": ["string", "null"]}}})
    call = ToolCall(name="alarm", arguments='{"on": true, "label": null, "days": ["Mon"], "opts": {"v": 1.5}}')
    text = text_of(Qwen3CoderFormat(), [Message.user("x"), Message.assistant("", [call])], tools=[alarm])
    assert "<type>['string', 'null']</type>" in text  # Python's repr of a list, as Jinja's `string` filter prints it
    assert ("<function=alarm>\n<parameter=on>\nTrue\n</parameter>\n<parameter=label>\nNone\n</parameter>\n"
            '<parameter=days>\n["Mon"]\n</parameter>\n<parameter=opts>\n{"v": 1.5}\n</parameter>\n</function>') in text


@pytest.mark.parametrize("fmt", [HermesFormat(), Qwen3CoderFormat()], ids=lambda f: f.name)
def test_choice_none_hides_the_tools(fmt) -> None:
    text = text_of(fmt, conversation(), choice=ToolChoice("none"))
    assert "# Tools" not in text and "<tools>" not in text
    assert "Weather in Paris?" in text


@pytest.mark.parametrize(("fmt", "required", "named"), [
    (HermesFormat(), "<tool_call>\n", '<tool_call>\n{"name": "convert", "arguments": '),
    (Qwen3CoderFormat(), "<tool_call>\n", "<tool_call>\n<function=convert>\n"),
], ids=["hermes", "qwen3_coder"])
def test_forced_choices_prefill_the_call(fmt, required: str, named: str) -> None:
    msgs = [Message.user("Convert 10 USD.")]
    assert fmt.render(msgs, TOOLS, ToolChoice("auto")).prefill == ""
    assert fmt.render(msgs, TOOLS, ToolChoice("required")).prefill == required
    assert fmt.render(msgs, TOOLS, ToolChoice("function", "convert")).prefill == named
    assert fmt.render(msgs, [], ToolChoice("required")).prefill == ""  # nothing to force without tools
    # the prefill is not part of the prompt: the request adds it as the assistant turn's start
    assert fmt.render(msgs, TOOLS, ToolChoice("required")).prompt[-1].role == "user"


@pytest.mark.parametrize("fmt", [HermesFormat(), Qwen3CoderFormat()], ids=lambda f: f.name)
def test_rendered_calls_read_back_as_the_same_calls(fmt) -> None:
    calls = [ToolCall(name="convert", arguments='{"amount": 10.5, "to": "EUR"}'),
             ToolCall(name="get_weather", arguments=json.dumps({"city": "São Paulo\nBrazil"}))]
    prompt = fmt.render([Message.user("q"), Message.assistant("Let me see.", calls)], TOOLS).prompt
    turn = fmt.parse(prompt[-1].content or "", tools=TOOLS)
    assert turn.content == "Let me see."
    assert [(c.name, json.loads(c.arguments)) for c in turn.tool_calls] == [
        ("convert", {"amount": 10.5, "to": "EUR"}), ("get_weather", {"city": "São Paulo\nBrazil"})]


def test_results_apart_from_each_other_get_their_own_user_turns() -> None:
    msgs = [Message.user("q"), Message.tool("a"), Message.user("more"), Message.tool("b"), Message.tool("c")]
    prompt = HermesFormat().render(msgs, TOOLS).prompt
    assert [(m.role, m.content) for m in prompt[1:]] == [
        ("user", "q"), ("user", "<tool_response>\na\n</tool_response>"), ("user", "more"),
        ("user", "<tool_response>\nb\n</tool_response>\n<tool_response>\nc\n</tool_response>")]


class ReasoningMessage(Message):
    """A message with the reasoning field the agent's schema gives assistant turns."""

    reasoning_content: str | None = None


def test_hermes_qwen3_resends_reasoning_within_the_current_episode() -> None:
    call = ToolCall(id="1", name="get_weather", arguments='{"city": "Paris"}')
    msgs = [Message.user("Hi"),
            ReasoningMessage(role="assistant", content="Hello!", reasoning_content="greet them"),
            Message.user("Weather in Paris?"),
            ReasoningMessage(role="assistant", content=None, tool_calls=[call], reasoning_content="\nNeed the tool.\n"),
            Message.tool("18 C", tool_call_id="1")]
    expected = (
        "<|im_start|>system\n" + HERMES_TOOLS + "<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello!<|im_end|>\n"  # before the last question: its reasoning is not sent back
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nNeed the tool.\n</think>\n\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\n18 C\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert text_of(HermesFormat(default_system=None, resend_reasoning=True), msgs) == expected
    assert "<think>" not in text_of(HermesFormat(), msgs)  # Qwen2.5's template has no reasoning
