"""Function calling policy over a format (ReAct here, every format in tests/formats/): tool_choice, parallel
calls, canonical names, history, streaming reader, planner."""

from __future__ import annotations

import json
import random

import pytest

from qwen_agent.agent import Agent
from qwen_agent.errors import ConfigurationError
from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.formats.react import ReactFormat, parse_react
from qwen_agent.function_calling import (
    ANSWER_NOW,
    FunctionCallingRequest,
    ToolCallStream,
    ToolChoice,
    build_request,
    tool_calls_from_openai,
    tool_calls_to_openai,
)
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.planner import FormatPlanner
from qwen_agent.schema import Message, ToolCall, ToolSpec
from qwen_agent.tools import tool

WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather of a city.",
    parameters={"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
TIME = ToolSpec(name="get_time", description="Current time in a city.", parameters=WEATHER.parameters)



def fc(tools, choice=None, parallel_tool_calls=True):
    return FunctionCallingRequest(ReactFormat(), tuple(tools), choice or ToolChoice(), parallel_tool_calls)


def prompt_of(req, messages, stop=()):
    return req.render(messages, stop).prompt


TWO_CALLS = (
    "Thought: I need both.\nAction: get_weather\nAction Input: {\"city\": \"Paris\"}\n"
    "Action: get_time\nAction Input: {\"city\": \"Paris\"}\nObservation: made up"
)


def test_tool_choice_parse_accepts_openai_langchain_and_legacy_shapes():
    assert ToolChoice.parse(None) == ToolChoice("auto")
    assert ToolChoice.parse("none").mode == "none"
    assert ToolChoice.parse("any") == ToolChoice("required")
    assert ToolChoice.parse({"type": "function", "function": {"name": "f"}}) == ToolChoice("function", "f")
    assert ToolChoice.parse({"name": "f"}) == ToolChoice("function", "f")
    assert ToolChoice.parse("get_weather") == ToolChoice("function", "get_weather")
    with pytest.raises(ConfigurationError, match="invalid tool_choice"):
        ToolChoice.parse(3)
    with pytest.raises(ConfigurationError, match="not among the tools"):
        ToolChoice("function", "nope").check([WEATHER])
    with pytest.raises(ConfigurationError, match="at least one tool"):
        build_request(ReactFormat(), [], "required")
    assert ToolChoice("function", "f").to_openai() == {"type": "function", "function": {"name": "f"}}


def test_auto_prompt_is_react_and_output_becomes_tool_calls():
    req = fc([WEATHER, TIME])
    rendered = req.render([Message.user("Weather and time in Paris?")], ["END"])
    prompt = rendered.prompt
    assert len(prompt) == 1 and prompt[0].role == "user"
    assert "get_weather: Call this tool" in prompt[0].content
    assert prompt[0].content.endswith("Question: Weather and time in Paris?")
    assert rendered.stop == ("END", "Observation:", "Observation:\n")
    turn = req.read(TWO_CALLS)
    calls = turn.message.tool_calls
    assert [c.name for c in calls] == ["get_weather", "get_time"]
    assert json.loads(calls[0].arguments) == {"city": "Paris"}
    assert turn.message.content is None and turn.message.reasoning_content == "I need both."


def test_parallel_false_and_named_choice_keep_one_call():
    assert len(fc([WEATHER, TIME], parallel_tool_calls=False).read(TWO_CALLS).message.tool_calls) == 1
    req = fc([WEATHER, TIME], ToolChoice("function", "get_weather"))
    prompt = prompt_of(req, [Message.user("hi")])
    assert prompt[-1] == Message.assistant("Action: get_weather\nAction Input: ")
    turn = req.read('{"city": "Rome"}\nObservation:')
    assert [(c.name, c.arguments) for c in turn.message.tool_calls] == [("get_weather", '{"city": "Rome"}')]


def test_required_prefills_action_and_none_hides_tools():
    req = fc([WEATHER, TIME], ToolChoice("required"))
    assert prompt_of(req, [Message.user("hi")])[-1].content == "Action: "
    assert req.read('"Get-Time"\nAction Input: {"city": "Oslo"}').message.tool_calls[0].name == "get_time"
    single = fc([WEATHER], ToolChoice("required"))
    assert prompt_of(single, [Message.user("hi")])[-1].content == "Action: get_weather\nAction Input: "
    none = fc([WEATHER], ToolChoice("none"))
    rendered = none.render([Message.user("hi")])
    assert rendered.prompt == [Message.user("hi")] and rendered.stop == ()
    assert none.read("Action: x").message == Message.assistant("Action: x")


def test_history_with_tool_results_becomes_transcript_and_back():
    call = ToolCall(name="get_weather", arguments='{"city": "Paris"}', id="call_1")
    history = [
        Message.system("Be brief."),
        Message.user("Weather in Paris?"),
        Message.assistant("I should look it up.", [call]),
        Message.tool("sunny, 21C", tool_call_id="call_1"),
    ]
    prompt = prompt_of(fc([WEATHER]), history)
    assert prompt[0] == Message.system("Be brief.")
    assert prompt[1].content.endswith(
        "Question: Weather in Paris?\nThought: I should look it up.\nAction: get_weather\n"
        'Action Input: {"city": "Paris"}\nObservation: sunny, 21C\n'
    )
    turn = fc([WEATHER]).read("Thought: I now know the final answer\nFinal Answer: Sunny.")
    assert turn.message == Message.assistant("Sunny.", reasoning="I now know the final answer")


def test_openai_tool_call_conversion_round_trip():
    calls = [ToolCall(name="f", arguments='{"a": 1}', id="call_x")]
    data = tool_calls_to_openai(calls)
    assert data == [{"id": "call_x", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    assert tool_calls_from_openai(data) == calls
    assert tool_calls_from_openai([{"function": {"name": "g", "arguments": {"b": 2}}}])[0].arguments == '{"b": 2}'
    with pytest.raises(ValueError, match="no function name"):
        tool_calls_from_openai([{"function": {}}])


STREAM_CASES = [
    "Thought: I now know the final answer\nFinal Answer: The answer is 42.\nIt is final.  ",
    "Thought: easy\nFinal Answer: line one\nAction items: none\nAction: get_weather\nAction Input: {}",
    "Final Answer: Obs are fine\nObservation: cut here",
    TWO_CALLS,
    "Just plain text without keywords.\nSecond line.",
    "Thought: hmm\nFinal Answer:   spaced  \n\n",
]


@pytest.mark.parametrize("text", STREAM_CASES)
def test_stream_reader_shows_exactly_the_final_content_for_any_chunking(text):
    req = fc([WEATHER, TIME])
    expected = req.read(text).message
    rng = random.Random(text)
    for _ in range(30):
        reader = ToolCallStream(req)
        shown, i = "", 0
        while i < len(text):
            n = rng.randint(1, 7)
            shown += reader.feed(text[i : i + n])
            i += n
        rest, turn = reader.finish()
        assert shown + rest == ("" if expected.tool_calls else expected.content)
        got = [(c.name, c.arguments) for c in turn.message.tool_calls or []]
        assert got == [(c.name, c.arguments) for c in expected.tool_calls or []]
        assert (turn.message.content, turn.message.reasoning_content) == (expected.content, expected.reasoning_content)
        assert "Observation" not in "".join(c.arguments for c in turn.message.tool_calls or [])


def test_stream_reader_streams_final_answer_before_the_end():
    reader = ToolCallStream(fc([WEATHER]))
    assert reader.feed("Thought: done\nFinal Answer: Hel") == "Hel"
    assert reader.feed("lo wor") == "lo wor"
    assert reader.feed("ld\nAct") == "ld"  # "Act" may become "Action:"
    assert reader.feed("ually yes") == "\nActually yes"
    assert reader.finish() [0] == ""
    assert parse_react("Final Answer: Hello world\nActually yes").final_answer == "Hello world\nActually yes"


def test_planner_runs_agent_in_function_calling_mode():
    def get_weather(city: str) -> str:
        """Current weather of a city.

        Args:
            city: the city.
        """
        return f"sunny in {city}"

    llm = ScriptedLLM([
        '{"city": "Paris"}',  # forced call: the prefill already wrote the Action line
        "Thought: I now know the final answer\nFinal Answer: It is sunny in Paris.",
    ])
    agent = Agent(llm, [get_weather], planner=FormatPlanner("react", tool_choice="get_weather"))
    result = agent.run_result("Weather in Paris?")
    assert result.answer == "It is sunny in Paris."
    assert [s.kind for s in result.steps] == ["turn", "observation", "turn", "final"]
    assert result.steps[1].observation == "sunny in Paris"
    first_prompt, first_stop = llm.calls[0]
    assert first_prompt[-1] == Message.assistant("Action: get_weather\nAction Input: ")
    assert "Observation:" in first_stop
    second_prompt, _ = llm.calls[1]
    assert second_prompt[-1].role == "user"  # forced once; the answer turn is free
    assert second_prompt[-1].content.endswith('Observation: sunny in Paris\n')


def test_planner_rejects_named_tool_it_does_not_have():
    agent = Agent(ScriptedLLM(["x"]), [], planner=FormatPlanner("react", tool_choice="missing"))
    with pytest.raises(ConfigurationError, match="not among the tools"):
        agent.run("hi")


def test_without_tools_text_comes_back_verbatim_with_no_stop_words():
    """P1: one path for the agent and the server; no tools means no ReAct reading and no Observation stop."""
    llm = ScriptedLLM(["Action: search\nAction Input: {}"])
    result = Agent(llm, [], tool_format="react").run_result("hi")
    assert result.answer == "Action: search\nAction Input: {}"
    assert [s.kind for s in result.steps] == ["turn", "final"]
    assert llm.calls[0][1] == []


def test_a_call_that_brings_nothing_new_makes_the_next_turn_answer():
    """The real 0.5B Qwen re-runs its answer through the code interpreter: not run, and the answer is asked for."""
    @tool
    def calc(code: str) -> str:
        """Evaluate Python.

        Args:
            code: the expression
        """
        return str(eval(code, {}))  # noqa: S307 - a test tool over fixed scripted input

    def hermes(code: str) -> str:
        return "<tool_call>\n" + json.dumps({"name": "calc", "arguments": {"code": code}}) + "\n</tool_call>"

    llm = ScriptedLLM([hermes("2**10"), hermes("1024"), "It is 1024."])
    result = Agent(llm, [calc], tool_format="hermes").run_result("2**10?")
    assert result.answer == "It is 1024." and result.finished
    assert [s.observation for s in result.steps if s.kind == "observation"] == ["1024"]  # the echo is not run
    assert "<tools>" in llm.calls[1][0][0].content and "<tools>" not in llm.calls[2][0][0].content
    # the agent's answer turn: the question and the result in one user message, no tool traffic
    answer_prompt = llm.calls[2][0]
    assert [m.role for m in answer_prompt] == ["system", "user"]
    assert answer_prompt[-1].content.startswith("The tools were already called for my question.")
    assert '- calc({"code": "2**10"}) -> 1024\n\nMy question: 2**10?\n' in answer_prompt[-1].content
    assert result.end == "answer_turn"


def test_a_stateless_request_whose_last_results_bring_nothing_new_asks_for_the_answer():
    """For callers that run their own loop (the server, LangChain): the request itself hides the tools."""
    req = build_request(HermesFormat(), [WEATHER])
    call = ToolCall(name="get_weather", arguments='{"city": "Paris"}', id="a")
    again = ToolCall(name="get_weather", arguments='{"city": "paris"}', id="b")
    messages = [Message.user("Weather in Paris?"), Message.assistant(None, [call]),
                Message.tool("Paris: 14C", tool_call_id="a", name="get_weather"), Message.assistant(None, [again]),
                Message.tool("Paris: 14C", tool_call_id="b", name="get_weather")]
    turn = req.for_turn(messages)
    assert turn.choice.mode == "none" and turn.answer_now
    assert turn.render(messages).prompt[-1] == Message.user(ANSWER_NOW)
    assert req.for_turn(messages[:3]) is req  # one fresh result: the tools stay on offer


def test_reasoning_streams_in_pieces_before_the_content():

    text = "<think>\nFirst I add. Then I check.\n</think>\n\nThe sum is 4."
    reader = ToolCallStream(build_request(HermesFormat(), [WEATHER]))
    parts = [reader.feed_parts(text[i : i + 4]) for i in range(0, len(text), 4)]
    more, rest, turn = reader.finish_parts()
    thoughts = [t for t, _ in parts if t]
    assert len(thoughts) > 2 and "".join(thoughts) + more == "First I add. Then I check."
    last_thought = max(i for i, (t, _) in enumerate(parts) if t)
    first_content = min(i for i, (_, c) in enumerate(parts) if c)
    assert last_thought <= first_content and "".join(c for _, c in parts) + rest == "The sum is 4."
    assert turn.message.reasoning_content == "First I add. Then I check."


def test_a_turn_repeating_a_call_is_cut_while_streaming_and_repeats_are_dropped():

    one = '{"name": "get_weather", "arguments": {"city": "Oslo"}}\n'
    llm = ScriptedLLM([one * 40], chunk_size=8)  # the 0.5B Qwen wrote the same bare call until max_tokens
    planner = FormatPlanner(HermesFormat())
    shown: list[str] = []
    turn = planner.plan(llm, [Message.user("Oslo?")], [WEATHER], None, on_text=shown.append)
    assert [(c.name, c.arguments) for c in turn.message.tool_calls] == [("get_weather", '{"city": "Oslo"}')]
    assert len(turn.raw) < 3 * len(one)  # cut after the first repeat, not read to the end
    assert shown == []
    whole = planner.plan(ScriptedLLM([one * 3]), [Message.user("Oslo?")], [WEATHER], None)
    assert len(whole.message.tool_calls) == 1  # without streaming: read whole, repeats dropped


def test_lang_with_a_format_that_is_not_react_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="tool_format='react'"):
        Agent(ScriptedLLM(["x"]), [], tool_format="hermes", lang="zh").run("hi")
    assert isinstance(FormatPlanner(None, lang="zh").format_for(ScriptedLLM([])), ReactFormat)


def test_the_planner_resolves_auto_again_for_another_backend():
    class Qwen1Like(ScriptedLLM):
        def template_tool_format(self):
            return ""  # a template with no tools: ReAct

    planner = FormatPlanner("auto")
    assert planner.format_for(ScriptedLLM([])).name == "hermes"
    assert isinstance(planner.format_for(Qwen1Like([])), ReactFormat)
