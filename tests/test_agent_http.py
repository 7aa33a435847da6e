"""End to end over real HTTP: the agent and OpenAICompatLLM against a scripted server on 127.0.0.1."""

from __future__ import annotations

import time

import pytest

from qwen_agent import Agent, get_llm, tool
from qwen_agent.errors import ContextLengthError, ModelConnectionError, ModelError
from qwen_agent.schema import Message
from tests.scripted_server import ScriptedOpenAIServer


@tool
def get_weather(city: str, unit: str = "celsius") -> str:
    """Current weather of a city."""
    return f"{city}: 25 {unit}"


CALL = 'Thought: I should look it up.\nAction: get_weather\nAction Input: {"city": "Hangzhou"}\nObservation: x'
FINAL = "Thought: I now know the final answer\nFinal Answer: 25 degrees in Hangzhou."


def test_agent_over_http_sends_hermes_tools_by_default() -> None:
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Hangzhou"}}\n</tool_call>'
    with ScriptedOpenAIServer([call, "25 degrees in Hangzhou."]) as server:
        llm = get_llm("openai", model="Qwen2.5-7B-Instruct", base_url=server.base_url)
        answer = Agent(llm=llm, tools=[get_weather]).run("What's the weather in Hangzhou?")
    assert answer == "25 degrees in Hangzhou."
    first, second = server.requests
    assert "stop" not in first and "tools" not in first  # Hermes rendered by us: the tools are in the text
    system = first["messages"][0]["content"]
    assert system.startswith("You are Qwen, created by Alibaba Cloud. You are a helpful assistant.\n\n# Tools")
    assert '"name": "get_weather", "description": "Current weather of a city."' in system
    assert second["messages"][-3] == {"role": "assistant", "content": call}
    assert second["messages"][-2] == {"role": "user",
                                      "content": "<tool_response>\nHangzhou: 25 celsius\n</tool_response>"}
    assert second["messages"][-1]["content"].endswith("My question: What's the weather in Hangzhou?")


def test_agent_over_http_sends_react_prompt_and_stops() -> None:
    with ScriptedOpenAIServer([CALL, FINAL]) as server:
        llm = get_llm("openai", model="Qwen2.5-7B-Instruct", base_url=server.base_url)
        answer = Agent(llm=llm, tools=[get_weather], tool_format="react").run("What's the weather in Hangzhou?")
    assert answer == "25 degrees in Hangzhou."
    first, second = server.requests
    assert first["_path"] == "/v1/chat/completions" and first["model"] == "Qwen2.5-7B-Instruct"
    assert first["stop"] == ["Observation:", "Observation:\n"]
    user = first["messages"][-1]["content"]
    assert ("get_weather: Call this tool to interact with the get_weather API. What is the get_weather API "
            "useful for? Current weather of a city. Parameters: ") in user
    assert "Format the arguments as a JSON object." in user
    assert '"name": "city", "description": "", "required": true' in user
    assert second["messages"][-1]["content"].endswith(
        'Action Input: {"city": "Hangzhou"}\nObservation: Hangzhou: 25 celsius\n')


def test_client_trims_stops_when_server_does_not() -> None:
    with ScriptedOpenAIServer([CALL, FINAL], honor_stop=False) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url)
        result = Agent(llm=llm, tools=[get_weather], tool_format="react").run_result("q")
    assert result.steps[1].observation == "Hangzhou: 25 celsius"
    assert result.answer == "25 degrees in Hangzhou."


def test_streaming_completion_and_chat() -> None:
    with ScriptedOpenAIServer(["abc Observation: zzz", "hello world"], honor_stop=False) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url)
        chunks = list(llm.stream("prompt", stop=["Observation:"]))
        chat = "".join(c.text for c in llm.stream([Message.user("hi")]))
    assert "".join(c.text for c in chunks) == "abc "
    assert chunks[-1].finish_reason == "stop"
    assert chat == "hello world"
    assert server.requests[0]["_path"] == "/v1/completions" and server.requests[0]["stream"] is True


def test_continues_a_final_assistant_message() -> None:
    with ScriptedOpenAIServer([" world"]) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url)
        llm.generate([Message.user("say hello world"), Message.assistant("hello")])
    assert server.requests[0]["continue_final_message"] is True
    assert server.requests[0]["add_generation_prompt"] is False


def test_server_down_names_the_url_and_returns_quickly() -> None:
    llm = get_llm("openai", model="m", base_url="http://127.0.0.1:9/v1", max_retries=1, timeout=5)
    start = time.monotonic()
    with pytest.raises(ModelConnectionError, match=r"http://127\.0\.0\.1:9/v1.*Is the server running"):
        Agent(llm=llm).run("hi")
    assert time.monotonic() - start < 10


def test_retries_transient_errors() -> None:
    with ScriptedOpenAIServer(["ok"], fail_first=2, fail_status=503) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url, max_retries=2)
        assert llm.generate("p").text == "ok"
    assert len(server.requests) == 3


def test_gives_up_after_retries_with_status() -> None:
    with ScriptedOpenAIServer(["never"], fail_first=5, fail_status=500) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url, max_retries=1)
        with pytest.raises(ModelError, match="answered 500"):
            llm.generate("p")
    assert len(server.requests) == 2


def test_context_length_error_is_typed() -> None:
    body = {"error": {"message": "This model's maximum context length is 32768 tokens", "type": "invalid"}}
    with ScriptedOpenAIServer([], fail_first=1, fail_status=400, fail_body=body) as server:
        llm = get_llm("openai", model="m", base_url=server.base_url)
        with pytest.raises(ContextLengthError, match="maximum context length"):
            llm.generate("p")


def test_agent_reads_llm_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    with ScriptedOpenAIServer(["configured"]) as server:
        monkeypatch.setenv("QWEN_AGENT_BASE_URL", server.base_url)
        monkeypatch.setenv("QWEN_AGENT_MODEL", "from-env")
        assert Agent(tools=[get_weather]).run("q") == "configured"
    assert server.requests[0]["model"] == "from-env"
