"""The agent loop with the scripted LLM replaying ReAct text (tool_format="react"; the other formats run the
same loop in tests/formats/): every failure the model can fix becomes an observation."""

from __future__ import annotations

import pytest

from qwen_agent import Agent, EpisodePolicy, Message, ScriptedLLM, tool
from qwen_agent.errors import ConfigurationError
from qwen_agent.prompts.react import STOP_WORDS


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    if city == "Atlantis":
        raise LookupError("no station in Atlantis")
    return f"{city}: sunny, 25C"


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def call(name: str, args: str, thought: str = "t") -> str:
    return f"Thought: {thought}\nAction: {name}\nAction Input: {args}"


FINAL = "Thought: I now know the final answer\nFinal Answer: done"


def run(responses: list[str], tools=(get_weather, add), **kw):  # noqa: ANN001, ANN201
    llm = ScriptedLLM(responses)
    kw.setdefault("tool_format", "react")
    return llm, Agent(llm=llm, tools=tools, **kw).run_result("question?")


def test_happy_path_and_prompt() -> None:
    llm, result = run([call("get_weather", '{"city": "Hangzhou"}'), FINAL])
    assert result.finished and result.answer == "done"
    assert [s.kind for s in result.steps] == ["turn", "observation", "turn", "final"]
    assert result.steps[0].message.tool_calls[0].name == "get_weather"
    assert result.steps[0].message.reasoning_content == "t"  # the Thought
    assert result.steps[1].observation == "Hangzhou: sunny, 25C"
    assert result.end == "answer"
    first_prompt, stop = llm.calls[0]
    assert stop == STOP_WORDS
    user = first_prompt[-1].content
    assert "get_weather: Call this tool to interact with the get_weather API." in user
    assert "Action: the action to take, should be one of [get_weather,add]" in user
    assert user.endswith("Question: question?")
    second = llm.calls[1][0][-1].content
    assert second.endswith('Action Input: {"city": "Hangzhou"}\nObservation: Hangzhou: sunny, 25C\n')


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (call("search", "{}"), "Error: Unknown tool 'search'. Available tools: get_weather, add."),
        (call("add", '{"a": "two", "b": 1}'), "Error: Invalid arguments for add: a: Input should be a valid integer"),
        (call("get_weather", '{"city": "Atlantis"}'), "Error: get_weather raised LookupError: no station in Atlantis"),
        (call("add", "a=1, b=2"), "Error: the arguments for add must be a JSON object"),
    ],
)
def test_model_fixable_errors_become_observations(response: str, expected: str) -> None:
    llm, result = run([response, FINAL])
    obs = result.steps[1]
    assert obs.is_error and obs.observation.startswith(expected)
    assert result.finished  # the loop went on to the model's next turn
    assert expected in llm.calls[1][0][-1].content


def test_max_steps_without_the_answer_turn_ends_with_partial_result() -> None:
    calls = [call("add", '{"a": 1, "b": 1}'), call("add", '{"a": 1, "b": 2}'), call("add", '{"a": 2, "b": 2}')]
    llm, result = run(calls, max_steps=3, policy=EpisodePolicy(answer_turn=False))
    assert not result.finished and result.end == "max_steps"
    assert result.steps[-1].kind == "stopped"
    assert result.answer == "4"
    notice = result.steps[-2]
    assert (notice.kind, notice.decision) == ("notice", "max_steps") and "3 model turns" in notice.reason
    assert len(llm.calls) == 3


def test_parallel_calls_run_together_and_report_in_call_order() -> None:
    two = call("add", '{"a": 1, "b": 2}') + "\n" + 'Action: get_weather\nAction Input: {"city": "Oslo"}'
    _, result = run([two, FINAL])
    assert [(s.kind, s.index, s.observation) for s in result.steps[:3]] == [
        ("turn", 0, None), ("observation", 0, "3"), ("observation", 0, "Oslo: sunny, 25C")]
    assert [c.name for c in result.steps[0].message.tool_calls] == ["add", "get_weather"]


def test_sequential_tools_keep_the_call_then_result_order() -> None:
    two = call("add", '{"a": 1, "b": 2}') + "\n" + 'Action: get_weather\nAction Input: {"city": "Oslo"}'
    _, result = run([two, FINAL], parallel_tools=False)
    assert [(s.kind, s.tool_call and s.tool_call.name, s.observation) for s in result.steps[:3]] == [
        ("turn", None, None), ("observation", "add", "3"), ("observation", "get_weather", "Oslo: sunny, 25C")]
    assert [m.role for m in result.messages] == ["user", "assistant", "tool", "tool", "assistant"]


def test_plain_text_reply_is_the_answer() -> None:
    _, result = run(["Hello there."])
    assert result.finished and result.answer == "Hello there."


def test_hallucinated_observation_is_ignored() -> None:
    text = call("get_weather", '{"city": "Rome"}') + "\nObservation: snowing\nFinal Answer: it snows"
    _, result = run([text, FINAL])
    assert result.steps[1].observation == "Rome: sunny, 25C"


def test_multi_turn_history_is_sent_as_chat_turns() -> None:
    llm = ScriptedLLM([call("add", '{"a": 2, "b": 2}'), "Final Answer: 4", "Final Answer: 8"])
    agent = Agent(llm=llm, tools=[add], system="Be brief.", tool_format="react")
    first = agent.run_result("2+2?")
    history = [m for m in first.messages if m.role != "system"]
    assert agent.run("double it", history=history) == "8"
    prompt = llm.calls[-1][0]
    assert [m.role for m in prompt] == ["system", "user", "assistant", "user"]
    assert prompt[1].content == "2+2?"
    assert "Observation: 4" in prompt[2].content and prompt[2].content.endswith("Final Answer: 4")
    assert prompt[3].content.endswith("Question: double it")


def test_messages_record_openai_shape() -> None:
    _, result = run([call("add", '{"a": 1, "b": 1}'), FINAL])
    roles = [m.role for m in result.messages]
    assert roles == ["user", "assistant", "tool", "assistant"]
    assert result.messages[1].tool_calls[0].id == result.messages[2].tool_call_id


def test_run_stream_yields_events_lazily() -> None:
    llm = ScriptedLLM([call("add", '{"a": 1, "b": 1}'), FINAL])
    stream = Agent(llm=llm, tools=[add], tool_format="react").run_stream("q")
    assert next(stream).kind == "turn"
    assert len(llm.calls) == 1  # nothing more is asked of the model before the consumer wants it


def test_no_user_message_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        Agent(llm=ScriptedLLM([]), tools=[add]).run([Message.system("hi")])


def test_chinese_prompt() -> None:
    llm = ScriptedLLM(["Final Answer: 好"])
    assert Agent(llm=llm, tools=[add], lang="zh").run("一加一？") == "好"
    assert "尽你所能回答以下问题" in llm.calls[0][0][-1].content


def test_huge_observation_is_cut_in_the_middle() -> None:
    @tool
    def dump() -> str:
        """Return a lot of text."""
        return "HEAD\n" + "x" * 100_000 + "\nTAIL"

    llm = ScriptedLLM([call("dump", "{}"), FINAL])
    result = Agent(llm=llm, tools=[dump], max_observation_chars=1000, tool_format="react").run_result("q")
    obs = result.steps[1].observation
    assert obs.startswith("HEAD\n") and obs.endswith("\nTAIL")
    assert "characters omitted" in obs and len(obs) < 1100
    # What is kept plus what the note says was omitted adds up to the original 100,010 characters.
    head, rest = obs.split("\n[... ", 1)
    omitted, tail = rest.split(" characters omitted ...]\n", 1)
    assert len(head) + int(omitted) + len(tail) == 100_010
