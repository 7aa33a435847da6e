"""The loop's remedies for a small model's habits (`EpisodePolicy`), with the scripted LLM replaying Hermes text:
a repeated call is not run again, an answer turn when the model only repeats itself or runs out of steps, a
cancel token, and the confirmation of calls whose arguments appear nowhere in the conversation."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from qwen_agent import Agent, EpisodePolicy, ScriptedLLM, tool
from qwen_agent.grounding import conversation_text, is_ungrounded
from qwen_agent.schema import Chunk, Message, ToolCall

RUNS: list[str] = []


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather of a city.

    Args:
        city: the city
        unit: celsius or fahrenheit
    """
    RUNS.append(city)
    return f"{city}: 14 {unit}"


@pytest.fixture(autouse=True)
def _clear_runs() -> Iterator[None]:
    RUNS.clear()
    yield


def call(args: dict[str, Any], name: str = "get_weather") -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': args})}\n</tool_call>"


def run(script: list[str], query: str = "Weather in Paris?", **kw: Any):  # noqa: ANN201
    llm = ScriptedLLM(script)
    return llm, Agent(llm, [get_weather], tool_format="hermes", **kw).run_result(query)


def kinds(result) -> list[tuple[str, str | None]]:  # noqa: ANN001
    return [(s.kind, s.decision) for s in result.steps]


def test_an_identical_repeat_is_not_run_again_and_the_model_is_asked_for_the_answer() -> None:
    llm, result = run([call({"city": "Paris"}), call({"city": "Paris"}), "It is 14 degrees in Paris."])
    assert RUNS == ["Paris"]
    assert kinds(result) == [("turn", None), ("observation", None), ("turn", None), ("notice", "repeat_not_run"),
                             ("notice", "answer_turn"), ("turn", None), ("final", None)]
    assert result.answer == "It is 14 degrees in Paris." and result.finished and result.end == "answer_turn"
    # the answer turn: no tools on offer, the question and the result stated plainly
    system, user = llm.calls[2][0]
    assert "<tools>" not in (system.content or "")
    assert user.content == ("The tools were already called for my question. What they returned:\n"
                            '- get_weather({"city": "Paris"}) -> Paris: 14 celsius\n\n'
                            "My question: Weather in Paris?\n"
                            "Answer my question from these results, in plain words. Do not call any tool.")
    # the conversation keeps the call that ran and the answer, not the repeat that did not
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant"]
    assert result.messages[-1].content == "It is 14 degrees in Paris."


@pytest.mark.parametrize("again", [
    {"city": " paris "},  # case and spaces of strings
    {"unit": "celsius", "city": "Paris"},  # same as the first call below, keys in another order
])
def test_repeats_are_recognised_after_normalisation(again: dict[str, Any]) -> None:
    first = {"city": "Paris"} if "unit" not in again else {"city": "Paris", "unit": "Celsius"}
    _, result = run([call(first), call(again), "14 degrees."])
    assert RUNS == ["Paris"]
    assert ("notice", "repeat_not_run") in kinds(result)


def test_a_call_feeding_back_its_own_earlier_result_is_a_repeat() -> None:
    """The real 0.5B runs `2**100`, then runs its result as code; the second call tells it nothing new."""
    calls: list[str] = []

    @tool
    def python(code: str) -> str:
        """Run Python.

        Args:
            code: the code
        """
        calls.append(code)
        return str(eval(code, {}))  # noqa: S307 - a test tool over fixed scripted input

    llm = ScriptedLLM([call({"code": "2**100"}, "python"), call({"code": str(2**100)}, "python"),
                       "It is 1267650600228229401496703205376."])
    result = Agent(llm, [python], tool_format="hermes").run_result("2**100?")
    assert calls == ["2**100"]  # the echo was not run; the model was asked for its answer
    assert ("notice", "repeat_not_run") in kinds(result) and result.end == "answer_turn"
    assert result.answer == "It is 1267650600228229401496703205376."


def test_an_answer_turn_that_writes_a_call_anyway_is_not_an_answer() -> None:
    _, result = run([call({"city": "Paris"}), call({"city": "Paris"}), call({"city": "Rome"})])
    assert RUNS == ["Paris"]
    assert result.end == "max_steps" and result.answer == "Paris: 14 celsius"  # the last result, not the markup
    assert "<tool_call>" not in (result.steps[-2].message.content or "")


def test_a_repeated_tool_with_different_arguments_still_runs() -> None:
    _, result = run([call({"city": "Paris"}), call({"city": "Paris", "unit": "fahrenheit"}), "Both done."],
                    query="Weather in Paris, in celsius and in fahrenheit?")
    assert RUNS == ["Paris", "Paris"]
    assert result.end == "answer" and all(s.kind != "notice" for s in result.steps)


def test_a_turn_mixing_a_repeat_and_a_new_call_runs_only_the_new_one_and_answers_both_in_order() -> None:
    both = call({"city": "Paris"}) + "\n" + call({"city": "Tokyo"})
    _, result = run([call({"city": "Paris"}), both, "Paris 14, Tokyo 14."], query="Paris and Tokyo?")
    assert RUNS == ["Paris", "Tokyo"]
    second_turn = result.messages[3]
    results = result.messages[4:6]
    assert [m.tool_call_id for m in results] == [c.id for c in second_turn.tool_calls]
    assert [m.content for m in results] == ["Paris: 14 celsius", "Tokyo: 14 celsius"]
    assert result.end == "answer"


def test_with_skip_repeats_off_the_repeat_runs() -> None:
    _, result = run([call({"city": "Paris"}), call({"city": "Paris"}), "14."],
                    policy=EpisodePolicy(skip_repeats=False, answer_turn=False))
    assert RUNS == ["Paris", "Paris"] and result.end == "answer"


@pytest.mark.parametrize("choice", ["required", "get_weather"])
def test_the_answer_turn_works_with_a_forced_tool_choice(choice: str) -> None:
    """A forced call is forced once; the answer turn offers no tools, so nothing is forced there."""
    _, result = run([call({"city": "Paris"}), call({"city": "Paris"}), "14 in Paris."], tool_choice=choice)
    assert RUNS == ["Paris"] and result.end == "answer_turn" and result.answer == "14 in Paris."


def test_max_steps_asks_for_the_answer_from_every_result() -> None:
    script = [call({"city": c}) for c in ("Paris", "Rome", "Oslo")] + ["Paris, Rome and Oslo: 14."]
    llm, result = run(script, query="Weather in Europe?", max_steps=3)
    assert RUNS == ["Paris", "Rome", "Oslo"]
    assert [d for _, d in kinds(result) if d] == ["max_steps", "answer_turn"]
    assert result.answer == "Paris, Rome and Oslo: 14." and result.end == "answer_turn"
    assert "- get_weather" in llm.calls[3][0][-1].content and "Oslo: 14 celsius" in llm.calls[3][0][-1].content


def test_an_empty_answer_turn_stops_with_the_last_result() -> None:
    _, result = run([call({"city": "Paris"}), call({"city": "Paris"}), ""])
    assert not result.finished and result.end == "max_steps"
    assert result.steps[-1].kind == "stopped" and result.answer == "Paris: 14 celsius"


def test_the_async_loop_applies_the_same_remedies() -> None:
    llm = ScriptedLLM([call({"city": "Paris"}), call({"city": "Paris"}), "14 in Paris."])
    result = asyncio.run(Agent(llm, [get_weather], tool_format="hermes").arun_result("Weather in Paris?"))
    assert RUNS == ["Paris"] and result.end == "answer_turn" and result.answer == "14 in Paris."


def test_a_turn_cut_for_repeating_a_call_still_counts_its_tokens() -> None:
    """The planner stops a streamed turn that writes the same call twice; the backend's usage never came, so the
    turn is counted with the backend's tokenizer (here the base class's estimate)."""
    twice = call({"city": "Paris"}) + "\n" + call({"city": "Paris"}) + "\n" + call({"city": "Paris"})
    llm = ScriptedLLM([twice, "14."], chunk_size=20)
    result = Agent(llm, [get_weather], tool_format="hermes").run_result("Weather in Paris?", on_text=lambda _: None)
    first = result.steps[0]
    assert first.usage is not None and first.usage.completion_tokens > 0 and first.usage.prompt_tokens > 0
    assert RUNS == ["Paris"]


def test_steps_carry_usage_and_seconds() -> None:
    _, result = run([call({"city": "Paris"}), "14."])
    turn, observation = result.steps[0], result.steps[1]
    assert turn.usage is not None and turn.usage.completion_tokens > 0
    assert turn.seconds is not None and turn.seconds >= 0
    assert observation.seconds is not None and observation.seconds >= 0


# --- cancel ---------------------------------------------------------------------------------------------------
def test_a_cancel_set_before_the_run_asks_nothing() -> None:
    cancel = threading.Event()
    cancel.set()
    llm = ScriptedLLM(["never"])
    result = Agent(llm, [get_weather], tool_format="hermes").run_result("q", cancel=cancel)
    assert result.end == "cancelled" and not result.finished and llm.calls == []


class _CancelMidStream(ScriptedLLM):
    """Sets the cancel token after the first streamed piece; counts the pieces it was asked for."""

    def __init__(self, responses: list[str], cancel: threading.Event) -> None:
        super().__init__(responses, chunk_size=2)
        self.cancel = cancel
        self.pieces = 0

    def _stream(self, prompt: Any, stop: Any, config: Any) -> Iterator[Chunk]:
        for chunk in super()._stream(prompt, stop, config):
            self.pieces += 1
            self.cancel.set()
            yield chunk


def test_cancel_stops_the_model_mid_generation() -> None:
    cancel = threading.Event()
    llm = _CancelMidStream(["a long answer " * 20], cancel)
    result = Agent(llm, [get_weather], tool_format="hermes").run_result("q", cancel=cancel)
    assert result.end == "cancelled"
    assert llm.pieces <= 2  # not the hundred pieces of the whole answer


def test_cancel_between_the_turn_and_its_tools_runs_no_tool_and_keeps_a_valid_conversation() -> None:
    cancel = threading.Event()

    def on_step(step: Any) -> None:
        if step.kind == "turn":
            cancel.set()

    agent = Agent(ScriptedLLM([call({"city": "Paris"})]), [get_weather], tool_format="hermes")
    result = agent.run_result("Weather in Paris?", on_step=on_step, cancel=cancel)
    assert RUNS == [] and result.end == "cancelled"
    assert [m.role for m in result.messages] == ["user"]  # the unanswered call is not left dangling


# --- calls whose arguments appear nowhere in the conversation ------------------------------------------------
CONFIRM = EpisodePolicy(confirm_ungrounded=True)


def test_an_ungrounded_call_is_put_to_the_model_which_answers_directly() -> None:
    llm, result = run([call({"city": "Beijing"}), "I am fine, thank you!"], query="Hi! How are you today?",
                      policy=CONFIRM)
    assert RUNS == []
    assert ("notice", "ungrounded_call") in kinds(result)
    assert result.answer == "I am fine, thank you!" and result.end == "answer"
    asked = llm.calls[1][0][-1].content
    assert asked.startswith('Before any tool runs: the call get_weather({"city": "Beijing"})')
    assert [m.role for m in result.messages] == ["user", "assistant"]


def test_an_ungrounded_call_the_model_confirms_runs() -> None:
    _, result = run([call({"city": "CDG"}), call({"city": "CDG"}), "14 at CDG."], query="Weather at the airport?",
                    policy=CONFIRM)
    assert RUNS == ["CDG"] and result.end == "answer"


def test_a_grounded_call_runs_at_once() -> None:
    llm, result = run([call({"city": "Paris"}), "14."], policy=CONFIRM)
    assert RUNS == ["Paris"] and len(llm.calls) == 2 and result.end == "answer"


@pytest.mark.parametrize(("args", "ungrounded"), [
    ({"city": "Beijing"}, True),
    ({"city": "paris"}, False),
    ({"city": "Paris", "unit": "kelvin"}, False),  # one value from the request is enough (derived ones pass)
    ({"amount": 1000000, "from_currency": "JPY"}, False),  # "1,000,000" in the request
    ({"amount": 2.0}, False),  # 2.0 is the 2 the user wrote
    ({"city": "北京"}, False),
    ({"city": "上海"}, True),
    ({}, False),  # nothing to check
])
def test_grounding(args: dict[str, Any], ungrounded: bool) -> None:
    text = conversation_text([Message.system("You are helpful."),
                              Message.user("Weather in Paris? Convert 1,000,000 JPY, times 2. 北京呢？")])
    assert is_ungrounded(ToolCall(name="f", arguments=json.dumps(args, ensure_ascii=False)), text) is ungrounded


def test_the_answer_turn_speaks_the_questions_language_and_ends_with_it() -> None:
    llm, _ = run([call({"city": "北京"}), call({"city": "北京"}), "北京 14 度。"], query="北京现在天气怎么样？")
    asked = llm.calls[2][0][-1].content
    assert asked.startswith("已经为我的问题调用过工具")
    assert "我的问题：北京现在天气怎么样？\n" in asked and asked.index("- get_weather") < asked.index("我的问题：")


class _CountingText(ScriptedLLM):
    """Counts the characters of text the planner had the model produce (streamed or whole)."""

    def __init__(self, responses: list[str]) -> None:
        super().__init__(responses, chunk_size=8)
        self.produced = 0

    def _generate(self, prompt: Any, stop: Any, config: Any) -> Any:
        out = super()._generate(prompt, stop, config)
        self.produced += len(out.text)
        return out

    def _stream(self, prompt: Any, stop: Any, config: Any) -> Iterator[Chunk]:
        for chunk in super()._stream(prompt, stop, config):
            self.produced += len(chunk.text)
            yield chunk


def test_a_turn_writing_the_same_call_over_and_over_is_cut_without_any_watcher() -> None:
    """The real 0.5B, given its result, writes the same bare JSON call line after line until its token limit; the
    planner streams every turn that has tools on offer and stops at the second copy, watcher or not."""
    line = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})
    llm = _CountingText(["\n".join([line] * 40), "14 in Paris."])
    result = Agent(llm, [get_weather], tool_format="hermes").run_result("Weather in Paris?")
    assert RUNS == ["Paris"] and result.answer == "14 in Paris."
    assert llm.produced < 3 * len(line) + len("14 in Paris.")  # about two copies, not forty


# --- after results: the question again; calls that follow a replayed call -------------------------------------
def test_after_results_the_prompt_asks_again_but_the_conversation_does_not_keep_it() -> None:
    llm, result = run([call({"city": "Paris"}), call({"city": "Rome"}), "Paris 14, Rome 14."],
                      query="Weather in Paris and Rome?", policy=EpisodePolicy(ask_after_results=True))
    assert RUNS == ["Paris", "Rome"] and result.end == "answer"
    asked = ("If these results answer my question, answer it from them in plain words; if something is still "
             "missing, call the tool for it.\nMy question: Weather in Paris and Rome?")
    second, third = llm.calls[1][0], llm.calls[2][0]
    # as Hermes renders them: the result is a user turn holding <tool_response>, then the question again
    assert "<tool_response>\nParis: 14 celsius" in second[-2].content and second[-1].content == asked
    assert third[:len(second)] == second  # each prompt extends the one before (a server's prefix cache holds)
    assert "<tool_response>\nRome: 14 celsius" in third[-2].content and third[-1].content == asked
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "assistant", "tool", "assistant"]


def test_calls_after_a_replayed_call_run_only_with_values_from_the_conversation() -> None:
    """The real 0.5B's second turn: its call again, then a catalogue of calls with invented values."""
    turn2 = "\n".join([call({"city": "Cairo"}), call({"city": "London"}), call({"city": "Berlin"})])
    _, result = run([call({"city": "Cairo"}), turn2, "Cairo is warmer."], query="Is Cairo warmer than London?",
                    policy=EpisodePolicy(skip_ungrounded_after_repeat=True))
    assert RUNS == ["Cairo", "London"]  # Berlin appears nowhere: not run
    notices = [(s.decision, json.loads(s.tool_call.arguments)["city"]) for s in result.steps if s.kind == "notice"]
    assert notices == [("ungrounded_after_repeat", "Berlin"), ("repeat_not_run", "Cairo")]
    kept = result.messages[3]
    assert [json.loads(c.arguments)["city"] for c in kept.tool_calls] == ["Cairo", "London"]
    assert result.answer == "Cairo is warmer."


def test_a_call_with_invented_values_still_runs_when_the_turn_does_not_open_with_a_repeat() -> None:
    turn2 = "\n".join([call({"city": "Tokyo"}), call({"city": "Paris"})])  # Tokyo: derived (Japan's capital)
    _, result = run([call({"city": "Paris"}), turn2, "done"], query="Weather in Paris and Japan's capital?",
                    policy=EpisodePolicy(skip_ungrounded_after_repeat=True))
    assert RUNS == ["Paris", "Tokyo"]


def test_react_is_not_asked_after_results_its_scratchpad_goes_on() -> None:
    llm = ScriptedLLM(['Thought: look\nAction: get_weather\nAction Input: {"city": "Paris"}\n',
                       "Thought: I now know the final answer\nFinal Answer: 14 in Paris."])
    agent = Agent(llm, [get_weather], tool_format="react", policy=EpisodePolicy(ask_after_results=True))
    assert agent.run("Weather in Paris?") == "14 in Paris."
    second = llm.calls[1][0]
    assert second[-1].content.endswith("Observation: Paris: 14 celsius\n")  # the scratchpad goes on from there
    assert not any("My question:" in (m.content or "") for m in second)


def test_the_question_asked_again_starts_no_new_user_turn_so_a_forced_call_is_forced_once() -> None:
    llm, result = run([call({"city": "Paris"}), "14 in Paris."], tool_choice="get_weather")
    assert RUNS == ["Paris"] and result.answer == "14 in Paris." and len(llm.calls) == 2
    second = llm.calls[1][0]
    assert second[-1].role == "user" and second[-1].content.endswith("My question: Weather in Paris?")  # no prefill
