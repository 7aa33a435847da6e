"""LangChain wrappers: the text LLM, the chat model with tools/streaming/structured output, tool bridges,
and the ReAct chain example, all over ScriptedLLM through the real langchain-core."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool as lc_tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field

from examples.langchain_react import run_chain
from qwen_agent.agent import Agent
from qwen_agent.errors import ConfigurationError
from qwen_agent.integrations.langchain import (
    ChatQwenAgent,
    QwenAgentLLM,
    from_langchain_tool,
    to_langchain_tool,
)
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.schema import Message
from qwen_agent.tools import tool

# What a Qwen2.5/3 model writes (Hermes, the default format); REACT_CALL for tool_format="react".
CALL = '<think>\ncheck\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
REACT_CALL = 'Thought: check\nAction: get_weather\nAction Input: {"city": "Paris"}\nObservation: fake'


def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"sunny in {city}"


# --- text LLM (the LLM equivalent of the standard tests, which langchain-tests does not ship) --------------
def test_llm_invoke_with_stop_and_params():
    scripted = ScriptedLLM(["Paris\nObservation: made up"])
    llm = QwenAgentLLM(llm=scripted, model="qwen-scripted", temperature=0.3, max_tokens=7)
    assert llm.invoke("Capital of France?", stop=["\nObservation:"]) == "Paris"
    assert scripted.calls == [("Capital of France?", ["\nObservation:"])]
    assert llm._identifying_params["model_name"] == "qwen-scripted"
    assert llm.model_dump()["max_tokens"] == 7 and "llm" not in llm.model_dump()


def test_llm_streams_and_batch():
    llm = QwenAgentLLM(llm=ScriptedLLM(["one two three END rest", "b"], chunk_size=2))
    pieces = list(llm.stream("count", stop=["END"]))
    assert len(pieces) > 3 and "".join(pieces) == "one two three "
    assert llm.batch(["x"]) == ["b"]


# --- chat model ---------------------------------------------------------------------------------------------
def test_chat_plain_answer_and_prompt():
    scripted = ScriptedLLM(["Bonjour !"])
    chat = ChatQwenAgent(llm=scripted)
    msg = chat.invoke([SystemMessage("Speak French."), HumanMessage("Hello")])
    assert isinstance(msg, AIMessage) and msg.content == "Bonjour !" and msg.tool_calls == []
    assert scripted.calls[0][0] == [Message.system("Speak French."), Message.user("Hello")]
    assert msg.response_metadata["finish_reason"] == "stop"


def test_bind_tools_gives_tool_calls_and_history_round_trips():
    scripted = ScriptedLLM([CALL, "Sunny."])
    chat = ChatQwenAgent(llm=scripted).bind_tools([get_weather])
    first = chat.invoke("Weather in Paris?")
    assert [(c["name"], c["args"]) for c in first.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert first.response_metadata["finish_reason"] == "tool_calls"
    assert first.content == "" and first.additional_kwargs["reasoning_content"] == "check"
    history = [HumanMessage("Weather in Paris?"), first,
               ToolMessage("sunny, 21C", tool_call_id=first.tool_calls[0]["id"])]
    second = chat.invoke(history)
    assert second.content == "Sunny." and second.tool_calls == []
    prompt = scripted.calls[1][0]
    assert prompt[-2].content == '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert prompt[-1] == Message.user("<tool_response>\nsunny, 21C\n</tool_response>")


def test_react_format_and_a_bad_language_is_a_clear_error():
    scripted = ScriptedLLM([REACT_CALL])
    msg = ChatQwenAgent(llm=scripted, tool_format="react", lang="zh").bind_tools([get_weather]).invoke("天气？")
    assert [(c["name"], c["args"]) for c in msg.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert "尽你所能回答以下问题" in scripted.calls[0][0][-1].content
    with pytest.raises(ConfigurationError, match="unknown ReAct language 'fr'"):
        ChatQwenAgent(llm=scripted, tool_format="react", lang="fr").invoke("hi")


def test_forced_tool_choice_and_invalid_arguments():
    scripted = ScriptedLLM(['"Paris, please"}\n</tool_call>'])
    msg = ChatQwenAgent(llm=scripted).bind_tools([get_weather], tool_choice="get_weather").invoke("hi")
    assert scripted.calls[0][0][-1] == Message.assistant('<tool_call>\n{"name": "get_weather", "arguments": ')
    assert msg.tool_calls == [] and msg.invalid_tool_calls[0]["args"] == "Paris, please"
    with pytest.raises(ValueError, match="not among the tools"):
        ChatQwenAgent(llm=scripted).bind_tools([get_weather], tool_choice="other")


def test_chat_streaming_text_and_tool_calls():
    chat = ChatQwenAgent(llm=ScriptedLLM(["<think>\nok\n</think>\n\nStreaming works fine.", CALL],
                                         chunk_size=3)).bind_tools([get_weather])
    chunks = list(chat.stream("go"))
    assert sum(1 for c in chunks if c.content) > 2
    assert "".join(c.content for c in chunks) == "Streaming works fine."
    total = None
    for c in chat.stream("again"):
        total = c if total is None else total + c
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert total.content == ""


def test_streaming_flag_aggregates_through_stream():
    msg = ChatQwenAgent(llm=ScriptedLLM(["abc def"]), streaming=True).invoke("x")
    assert msg.content == "abc def"


class Person(BaseModel):
    """A person."""

    name: str = Field(description="the name")
    age: int = Field(description="the age in years")


def test_with_structured_output_via_forced_tool_call():
    scripted = ScriptedLLM(['{"name": "Ada", "age": 36}}\n</tool_call>'])
    person = ChatQwenAgent(llm=scripted).with_structured_output(Person).invoke("Ada Lovelace, 36")
    assert person == Person(name="Ada", age=36)
    assert scripted.calls[0][0][-1] == Message.assistant('<tool_call>\n{"name": "Person", "arguments": ')


# --- tools both ways ----------------------------------------------------------------------------------------
def test_tool_bridges_both_ways():
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first
            b: second
        """
        return a + b

    lc_add = to_langchain_tool(add)
    assert lc_add.invoke({"a": 2, "b": 3}) == "5"
    assert "Invalid arguments for add" in lc_add.invoke({"a": "x", "b": 3})  # a ToolException, handled
    assert convert_to_openai_tool(lc_add)["function"]["parameters"]["required"] == ["a", "b"]

    @lc_tool
    def shout(text: str) -> str:
        """Upper-case the text."""
        return text.upper()

    back = from_langchain_tool(shout)
    assert back.name == "shout" and back.parameters["required"] == ["text"]
    agent = Agent(ScriptedLLM(['<tool_call>\n{"name": "shout", "arguments": {"text": "hi"}}\n</tool_call>', "HI"]), [back])
    result = agent.run_result("Shout hi")
    assert result.steps[1].observation == "HI" and result.answer == "HI"


# --- the example chain --------------------------------------------------------------------------------------
def test_langchain_react_example_runs_with_scripted_llm():
    scripted = ScriptedLLM([
        " I should compute it.\nAction: calculator\nAction Input: 12 * 7 + 3\nObservation: 90",
        " I now know the final answer\nFinal Answer: 87",
    ])
    assert run_chain("What is 12 * 7 + 3?", scripted) == "87"
    first_prompt, stop = scripted.calls[0]
    assert stop == ["\nObservation:"]
    assert first_prompt.endswith("Question: What is 12 * 7 + 3?\nThought:")
    assert scripted.calls[1][0].endswith(
        "Thought: I should compute it.\nAction: calculator\nAction Input: 12 * 7 + 3\nObservation: 87\nThought:")
