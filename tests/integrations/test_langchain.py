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
    to_qwen_message,
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


def test_json_schema_method_asks_for_json_and_reads_it_out_of_a_fence():
    scripted = ScriptedLLM(['Sure:\n```json\n{"name": "Ada", "age": 36}\n```'] * 2)
    chat = ChatQwenAgent(llm=scripted).with_structured_output(Person, method="json_schema")
    assert chat.invoke("Ada Lovelace, 36") == Person(name="Ada", age=36)
    system = scripted.calls[0][0][0]
    assert system.role == "system" and system.content.startswith("When you give your final answer")
    assert '"title": "Person"' in system.content and '"age"' in system.content
    assert list(chat.stream("again")) == [Person(name="Ada", age=36)]


def test_json_schema_include_raw_keeps_the_message_and_the_parsing_error():
    scripted = ScriptedLLM(['{"name": "Ada", "age": 36}', "no JSON here"])
    chat = ChatQwenAgent(llm=scripted).with_structured_output(Person, method="json_schema", include_raw=True)
    good = chat.invoke("Ada")
    assert (good["raw"].content, good["parsed"], good["parsing_error"]) == (
        '{"name": "Ada", "age": 36}', Person(name="Ada", age=36), None)
    bad = chat.invoke("Ada")
    assert bad["raw"].content == "no JSON here" and bad["parsed"] is None and bad["parsing_error"] is not None


def test_json_answer_content_is_canonical_json_and_a_system_turn_is_extended():
    scripted = ScriptedLLM(["{'city': 'Paris',}"])  # a Python-ish literal, read tolerantly
    chat = ChatQwenAgent(llm=scripted).bind(response_format={"type": "json_object"})
    assert chat.invoke([SystemMessage("Be brief."), HumanMessage("city?")]).content == '{"city": "Paris"}'
    system = scripted.calls[0][0][0]
    assert system.content.startswith("Be brief.\n\nWhen you give your final answer")


def test_json_answer_without_json_keeps_the_text_and_the_parser_says_so():
    from langchain_core.exceptions import OutputParserException

    chat = ChatQwenAgent(llm=ScriptedLLM(["I cannot answer that."])).with_structured_output(Person, method="json_mode")
    with pytest.raises(OutputParserException, match="I cannot answer that"):
        chat.invoke("who?")


def test_bad_response_format_and_method_are_clear_errors():
    chat = ChatQwenAgent(llm=ScriptedLLM(["x"]))
    with pytest.raises(ValueError, match="unsupported response_format.*json_schema"):
        chat.bind(response_format={"type": "xml"}).invoke("hi")
    with pytest.raises(ValueError, match="needs .*'schema'"):
        chat.bind(response_format={"type": "json_schema", "json_schema": {"name": "x"}}).invoke("hi")
    with pytest.raises(ValueError, match="unknown method 'regex'"):
        chat.with_structured_output(Person, method="regex")
    with pytest.raises(ValueError, match="unsupported arguments"):
        chat.with_structured_output(Person, method="json_schema", tools=[])


def test_profile_says_what_the_wrapper_does():
    profile = ChatQwenAgent(llm=ScriptedLLM(["x"])).profile
    assert profile["tool_calling"] and profile["tool_choice"] and profile["structured_output"]
    assert profile["image_inputs"] is False and "max_input_tokens" not in profile

    class Windowed(ScriptedLLM):
        context_window = 32768

    assert ChatQwenAgent(llm=Windowed(["x"])).profile["max_input_tokens"] == 32768


def test_assistant_list_content_keeps_text_and_reads_calls_from_tool_calls():
    message = AIMessage(
        [{"type": "reasoning", "reasoning": "add them"}, {"type": "text", "text": "some text"},
         {"type": "tool_use", "id": "t1", "name": "add", "input": {"a": 1}}],
        tool_calls=[{"name": "add", "args": {"a": 1}, "id": "t1", "type": "tool_call"}],
    )
    qwen = to_qwen_message(message)
    assert (qwen.content, qwen.reasoning_content) == ("some text", "add them")
    assert [(c.name, c.arguments, c.id) for c in qwen.tool_calls] == [("add", '{"a": 1}', "t1")]
    with pytest.raises(ValueError, match="'image_url' is not supported"):
        to_qwen_message(HumanMessage([{"type": "image_url", "image_url": {"url": "x"}}]))


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


def test_async_calls_use_the_backends_async_side_and_overlap():
    """`ainvoke`/`astream` await the backend's `agenerate`/`astream` (AsyncOpenAI over HTTP), so 40 calls
    overlap in one event loop: the server holds every request until 40 are in flight at once, which LangChain's
    thread fallback (a pool of min(32, cores + 4) threads) could never reach."""
    import asyncio

    from qwen_agent.llm.openai_compat import OpenAICompatLLM
    from tests.scripted_server import ScriptedOpenAIServer

    calls = 40
    with ScriptedOpenAIServer([CALL] * calls, hold_until=calls, hold_timeout=60) as server:
        llm = OpenAICompatLLM("scripted", base_url=server.base_url, timeout=90)
        chat = ChatQwenAgent(llm=llm, tool_format="hermes").bind_tools([get_weather])

        async def one(i: int) -> AIMessage:
            if i % 2:
                return await chat.ainvoke("Weather in Paris?")
            chunks = [c async for c in chat.astream("Weather in Paris?")]
            return sum(chunks[1:], chunks[0])  # type: ignore[return-value]

        async def all_of_them() -> list[AIMessage]:
            return list(await asyncio.gather(*(one(i) for i in range(calls))))

        replies = asyncio.run(all_of_them())
        llm.close()
    assert server.peak_in_flight == calls
    for reply in replies:
        assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("get_weather", {"city": "Paris"})]
        assert reply.additional_kwargs["reasoning_content"] == "check"
