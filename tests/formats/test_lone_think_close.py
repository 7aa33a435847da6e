"""A `</think>` with no `<think>` before it ends reasoning in every native format, whatever the format was told.

Thinking models whose prompt opens the block (Qwen3-Thinking-2507, Qwen3.5) write only the close; a server in
front of them may not know the template, so the format is not told (`think_opened=False`).
"""

from __future__ import annotations

import pytest

from qwen_agent.agent import Agent
from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.formats.qwen3_coder import Qwen3CoderFormat
from qwen_agent.formats.template import ChatTemplateFormat
from qwen_agent.formats.thinking import ThinkSplit, split_thinking
from qwen_agent.function_calling import ToolCallStream, build_request
from qwen_agent.llm import get_llm
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.schema import ToolSpec
from tests.scripted_server import ScriptedOpenAIServer

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather of a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
ANSWER = "The user greets me. I greet back.\n</think>\n\nHello! How can I help?"
FORMATS = [HermesFormat(), Qwen3CoderFormat(), ChatTemplateFormat(HermesFormat()),
           ChatTemplateFormat(Qwen3CoderFormat())]


@pytest.mark.parametrize(("text", "expected"), [
    ("plan</think>answer", ThinkSplit("plan", 12)),
    ("\nplan\n</think>\n\nanswer", ThinkSplit("plan", 14)),
    ("</think>answer", ThinkSplit("", 8)),
    ("a <tool_call>{} </think>", ThinkSplit("", 0)),  # after a call's opening: the call's text
    ("Use <think> and </think> tags.", ThinkSplit("", 0)),  # its opening is there: not lone
])
def test_split_reads_a_lone_close_as_the_end_of_reasoning(text: str, expected: ThinkSplit) -> None:
    assert split_thinking(text, opened=False, call_markers=("<tool_call>",)) == expected


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_native_format_reads_it_with_and_without_tools(fmt) -> None:
    parsed = fmt.parse(ANSWER, tools=[WEATHER])
    assert (parsed.reasoning, parsed.content) == ("The user greets me. I greet back.", "Hello! How can I help?")
    assert fmt.split_reasoning(ANSWER) == ("The user greets me. I greet back.", "Hello! How can I help?")


def test_the_chat_template_wrapper_passes_the_inner_settings_on() -> None:
    wrapped = ChatTemplateFormat(Qwen3CoderFormat(think_opened=True))
    assert wrapped.think_opened is True
    assert wrapped.call_markers == Qwen3CoderFormat.call_markers
    assert ChatTemplateFormat(HermesFormat()).think_opened is False


@pytest.mark.parametrize("tools", [[], [WEATHER]], ids=["no tools", "tools"])
def test_a_stream_shows_the_answer_after_the_close_and_the_reasoning_apart(tools) -> None:
    stream = ToolCallStream(build_request(HermesFormat(), tools))
    parts = [stream.feed_parts(ANSWER[i:i + 3]) for i in range(0, len(ANSWER), 3)]
    more, rest, turn = stream.finish_parts()
    assert turn.message.reasoning_content == "The user greets me. I greet back."
    assert turn.message.content == "Hello! How can I help?"
    assert "".join(r for r, _ in parts) + more == "The user greets me. I greet back."
    shown = "".join(c for _, c in parts)
    # before the close the reasoning looked like an answer and was shown; after it, the answer streams whole
    assert (shown + rest).endswith("Hello! How can I help?")
    assert stream.shown + rest == "Hello! How can I help?"
    assert "</think" not in shown + rest


def test_an_agent_keeps_it_out_of_the_answer_on_the_scripted_backend() -> None:
    calls = "Need the weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"

    def get_weather(city: str) -> str:
        """Current weather of a city."""
        return f"{city}: sunny"

    llm = ScriptedLLM([calls, "It is sunny.\n</think>\n\nSunny in Paris."])
    result = Agent(llm, [get_weather], tool_format="hermes").run_result("Weather in Paris?")
    assert result.answer == "Sunny in Paris."
    assistant = [m for m in result.messages if m.role == "assistant"]
    assert [m.reasoning_content for m in assistant] == ["Need the weather.", "It is sunny."]
    assert assistant[0].tool_calls[0].name == "get_weather" and not assistant[0].content


def test_a_server_that_does_not_know_the_template_gets_it_read_too() -> None:
    """The openai backend, against a server that sends the model's text as it is (no reasoning parser)."""
    with ScriptedOpenAIServer([ANSWER]) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url, api_key="k")
        result = Agent(llm, []).run_result("Hi")
    assert result.answer == "Hello! How can I help?"
    assert result.messages[-1].reasoning_content == "The user greets me. I greet back."
