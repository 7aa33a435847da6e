"""Answers put back to the model once: figures no tool result gave (`EpisodePolicy.check_answer_numbers`: the real
small Qwens answer a two-part question after one call, the second part invented, "Paris: 14°C ... Tokyo: 15°C"),
and a call of a tool nobody offered written as the answer (`check_invented_tools`). The scripted LLM replays
Hermes text; `ungrounded_numbers` is checked on figures worked out by hand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from qwen_agent import Agent, EpisodePolicy, ScriptedLLM, tool
from qwen_agent.grounding import ungrounded_numbers
from qwen_agent.schema import Message

RUNS: list[str] = []
TEMPERATURES = {"paris": "14°C, light rain", "tokyo": "22°C, clear skies", "cairo": "31°C, sunny",
                "london": "11°C, overcast"}


@tool
def get_weather(city: str) -> str:
    """Current weather of a city.

    Args:
        city: the city
    """
    RUNS.append(city)
    return f"{city}: {TEMPERATURES[city.lower()]}"


@pytest.fixture(autouse=True)
def _clear_runs() -> Iterator[None]:
    RUNS.clear()
    yield


def call(city: str) -> str:
    return f"<tool_call>\n{json.dumps({'name': 'get_weather', 'arguments': {'city': city}})}\n</tool_call>"


NUMBERS = EpisodePolicy(check_answer_numbers=True, check_answer_coverage=False)  # numbers alone; off by default


def run(script: list[str], query: str, **kw: Any):  # noqa: ANN201
    llm = ScriptedLLM(script)
    return llm, Agent(llm, [get_weather], tool_format="hermes", **kw).run_result(query)


def kinds(result) -> list[tuple[str, str | None]]:  # noqa: ANN001
    return [(s.kind, s.decision) for s in result.steps]


def test_an_invented_figure_sends_the_model_back_and_it_calls_for_the_missing_part() -> None:
    invented = "Paris: 14°C, light rain\nTokyo: 15°C, sunny"  # the real 0.5B's answer, word for word
    llm, result = run([call("Paris"), invented, call("Tokyo"), "Paris: 14°C. Tokyo: 22°C."],
                      query="What's the weather in Paris and in Tokyo?", policy=NUMBERS)
    assert RUNS == ["Paris", "Tokyo"]
    assert kinds(result) == [("turn", None), ("observation", None), ("turn", None), ("notice", "ungrounded_answer"),
                             ("turn", None), ("observation", None), ("turn", None), ("final", None)]
    assert "15" in (result.steps[3].reason or "") and result.answer == "Paris: 14°C. Tokyo: 22°C."
    third = llm.calls[2][0]  # the model reads its answer back, then the objection, with its question last
    assert third[-2].role == "assistant" and third[-2].content == invented
    assert third[-1].content == (
        "Your answer gives 15, which none of the tool results states. If a part of my question is not answered by "
        "the results yet, call the tool for that part now; otherwise answer again, using only the results.\n"
        "My question: What's the weather in Paris and in Tokyo?")
    assert llm.calls[3][0][:len(third)] == third  # the next prompt extends it (prefix caches hold)
    # the conversation a user keeps has neither the answer that was not taken nor the objection
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]
    assert all(invented != m.content for m in result.messages)


def test_the_objection_is_made_once_and_the_next_answer_is_taken() -> None:
    _, result = run([call("Paris"), "Tokyo: 15°C", "Tokyo is 16°C."], query="Weather in Paris and Tokyo?",
                    policy=NUMBERS)
    assert RUNS == ["Paris"] and result.answer == "Tokyo is 16°C." and result.end == "answer"
    assert [d for _, d in kinds(result)].count("ungrounded_answer") == 1


def test_figures_worked_out_from_the_results_are_taken() -> None:
    _, result = run([call("Cairo"), call("London"), "Cairo is 20 degrees warmer than London (31°C vs 11°C)."],
                    query="Is it warmer in Cairo or in London?", policy=NUMBERS)
    assert RUNS == ["Cairo", "London"] and "ungrounded_answer" not in [d for _, d in kinds(result)]


@pytest.mark.parametrize("policy, max_steps", [(EpisodePolicy(check_answer_coverage=False), 3), (NUMBERS, 2)])
def test_the_check_turned_off_or_without_a_turn_left_takes_the_answer(policy: EpisodePolicy, max_steps: int) -> None:
    _, result = run([call("Paris"), "Tokyo: 15°C"], query="Weather in Paris and Tokyo?", policy=policy,
                    max_steps=max_steps)
    assert result.answer == "Tokyo: 15°C" and result.end == "answer"


def test_an_answer_without_tools_is_not_checked() -> None:
    _, result = run(["Paris has about 2.1 million people."], query="How big is Paris?", policy=NUMBERS)
    assert result.answer == "Paris has about 2.1 million people." and len(result.steps) == 2


def test_react_is_not_checked() -> None:
    llm = ScriptedLLM(["Action: get_weather\nAction Input: {\"city\": \"Paris\"}\n",
                       "Thought: I know.\nFinal Answer: Tokyo: 15°C"])
    result = Agent(llm, [get_weather], tool_format="react", policy=NUMBERS).run_result("Weather in Paris and Tokyo?")
    assert RUNS == ["Paris"] and result.answer == "Tokyo: 15°C"


JOKE_CALL = '{"name": "cat_joke", "arguments": {"message": "Why did the cat sit on the computer?"}}'  # the 0.5B's


def test_a_call_of_an_invented_tool_is_no_answer_the_model_is_told_and_answers() -> None:
    llm, result = run([JOKE_CALL, "Why did the cat sit on the computer? To keep an eye on the mouse."],
                      query="Tell me a short joke about cats.")
    assert RUNS == [] and result.end == "answer" and result.answer.endswith("the mouse.")
    assert kinds(result) == [("turn", None), ("notice", "invented_tool"), ("turn", None), ("final", None)]
    second = llm.calls[1][0]
    assert second[-2].content == JOKE_CALL and second[-1].content == (
        "There is no tool named cat_joke. If one of the tools you were given serves my request, call it; otherwise "
        "answer my request directly, in plain words.\nMy request: Tell me a short joke about cats.")
    assert [m.role for m in result.messages] == ["user", "assistant"]


def test_told_of_its_invented_tool_the_model_may_call_an_offered_one() -> None:
    fenced = '```json\n{"name": "weather_report", "arguments": {"location": "Paris"}}\n```'
    _, result = run([fenced, call("Paris"), "Paris: 14°C, light rain."], query="Weather in Paris?")
    assert RUNS == ["Paris"] and result.answer == "Paris: 14°C, light rain."
    assert ("notice", "invented_tool") in kinds(result)


def test_a_second_invented_call_gets_the_answer_turn_with_the_question_alone() -> None:
    again = '{"name": "cat_joke", "arguments": {"message": "Why did the cat sleep all night?"}}'
    llm, result = run([JOKE_CALL, again, "Why did the cat sleep all night? It was a cat-nap."],
                      query="Tell me a short joke about cats.")
    assert RUNS == [] and result.end == "answer_turn" and result.answer.endswith("cat-nap.")
    assert kinds(result) == [("turn", None), ("notice", "invented_tool"), ("turn", None), ("notice", "answer_turn"),
                             ("turn", None), ("final", None)]
    prompt, _ = llm.calls[2]  # no tools on offer, no results: the question, to answer directly
    assert [m.role for m in prompt] == ["system", "user"] and "<tools>" not in (prompt[0].content or "")
    assert prompt[1].content == "Tell me a short joke about cats."


def test_the_invented_tool_objection_speaks_chinese_and_can_be_turned_off() -> None:
    llm, result = run([JOKE_CALL, "好的。"], query="讲个关于猫的笑话。")
    assert llm.calls[1][0][-1].content.startswith("没有名为 cat_joke 的工具。") and result.answer == "好的。"
    _, result = run([JOKE_CALL], query="Tell me a joke.", policy=EpisodePolicy(check_invented_tools=False))
    assert result.answer == JOKE_CALL and len(result.steps) == 2


def conversation(*texts: str) -> list[Message]:
    return [Message.user(texts[0]), *(Message.tool(t, tool_call_id=str(i), name="t") for i, t in enumerate(texts[1:]))]


@pytest.mark.parametrize("answer, said, ungrounded", [
    ("Tokyo: 15°C", ("Weather in Paris and Tokyo?", "Paris: 14°C"), ["15"]),
    ("Germany has 83.4 million", ("Compare Brazil and Germany.", "Brazil: 216.4 million"), ["83.4"]),
    # digit groups and units of ten: 216.4 million = 216,400,000; 1410 million = 14.1亿 (亿 = 10^8)
    ("Brazil: 216,400,000 people", ("Brazil?", "Brazil: 216.4 million"), []),
    ("中国有14.1亿人口", ("中国有多少人口？", "China: 1410 million"), []),
    ("中国有15亿人口", ("中国有多少人口？", "China: 1410 million"), ["15"]),  # a figure beside Chinese text is read
    # one step of arithmetic: 31 - 11 = 20; 216.4 / 84.5 = 2.56; 15% of 80 = 12; 17 * 23 = 391
    ("20 degrees warmer", ("Cairo or London?", "Cairo: 31°C", "London: 11°C"), []),
    ("2.56 times as many", ("Brazil or Germany?", "216.4 million", "84.5 million"), []),
    ("15 percent of 80 is 12", ("What is 15 percent of 80?", "1200"), []),
    ("17 * 23 is 391", ("What is 17 * 23?",), []),
    ("about 2.6 times", ("Brazil or Germany?", "216.4 million", "84.5 million"), []),  # 2.56 rounded
    ("about 3.1 times", ("Brazil or Germany?", "216.4 million", "84.5 million"), ["3.1"]),
    # counts and list markers are not figures; a version string is not a number
    ("1. Paris 2. Tokyo, 3 cities", ("Weather?", "Paris: 14°C"), []),
    ("use v1.2.3 please", ("Which?", "none"), []),
])
def test_ungrounded_numbers(answer: str, said: tuple[str, ...], ungrounded: list[str]) -> None:
    assert ungrounded_numbers(answer, conversation(*said)) == ungrounded
