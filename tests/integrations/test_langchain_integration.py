"""langchain-tests' standard integration suite for `ChatQwenAgent`, against a real OpenAI-compatible server
(`qwen_agent.server`, the app `qwen-agent serve` runs, with uvicorn on 127.0.0.1) in the Hermes format.

The server's model is `ScriptedPolicyLLM`, a scripted test double that answers by fixed rules (see
scripted_policy.py): the server renders the tools and the forced `tool_choice` in Hermes, the double writes
`<tool_call>` markup, the server reads it back into OpenAI `tool_calls`, and `ChatQwenAgent` (tool_format
"server", over `OpenAICompatLLM`) turns them into LangChain messages. The suite runs twice: structured output
by a forced tool call (its default) and by `method="json_schema"`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.tools import tool
from langchain_tests.integration_tests import ChatModelIntegrationTests

from qwen_agent.integrations.langchain import ChatQwenAgent
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from tests.integrations.conftest import POLICY_MODEL, PolicyServer

_server: dict[str, PolicyServer] = {}


@pytest.fixture(scope="module", autouse=True)
def _share_server(policy_server: PolicyServer) -> Iterator[None]:
    """The suite builds models from a property, which cannot take fixtures: hand it the server here."""
    _server["it"] = policy_server
    yield
    _server.clear()


def chat_params() -> dict:
    llm = OpenAICompatLLM(POLICY_MODEL, base_url=_server["it"].base_url, max_retries=0, timeout=30)
    return {"llm": llm, "model": POLICY_MODEL, "tool_format": "server"}


class TestChatQwenAgentIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatQwenAgent]:
        return ChatQwenAgent

    @property
    def chat_model_params(self) -> dict:
        return chat_params()

    @property
    def supports_json_mode(self) -> bool:
        return True  # with_structured_output(method="json_mode"): the model is asked for one JSON object

    @property
    def supports_model_override(self) -> bool:
        # The wrapped backend object is bound to one model (and `qwen-agent serve` serves one); another model
        # is another backend, so invoke(model=...) cannot switch it.
        return False

    # Left at the suite's defaults, each with its reason:
    # - supports_image_inputs / image_urls / pdf / audio / video / anthropic_inputs / image & pdf tool
    #   messages: False. qwen_agent's message contract carries text only (a non-text block is a ValueError).
    # - enable_vcr_tests: False. Nothing here is recorded: every test talks to the live local server.
    # - supported_usage_metadata_details: none. The server reports prompt and completion token counts only.


class TestChatQwenAgentJsonSchema(TestChatQwenAgentIntegration):
    """The same suite with structured output by `method="json_schema"` (what create_agent's provider
    strategy binds)."""

    @property
    def structured_output_kwargs(self) -> dict:
        return {"method": "json_schema"}


# --- what the suite does not pin down, checked by hand against the same server -------------------------------
def _model(policy_server: PolicyServer, **kwargs) -> ChatQwenAgent:
    llm = OpenAICompatLLM(POLICY_MODEL, base_url=policy_server.base_url, max_retries=0, timeout=30)
    return ChatQwenAgent(llm=llm, model=POLICY_MODEL, tool_format="server", **kwargs)


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return "sunny"


def test_streamed_calls_come_one_chunk_each_and_the_last_chunk_carries_usage(policy_server: PolicyServer):
    chat = _model(policy_server).bind_tools([add, get_weather])
    chunks = list(chat.stream("Use add for 2 and 3, then get_weather for 'Oslo'."))
    with_calls = [c for c in chunks if c.tool_call_chunks]
    assert [[(t["name"], t["index"]) for t in c.tool_call_chunks] for c in with_calls] == [[("add", 0)], [("get_weather", 1)]]
    assert len({c.tool_call_chunks[0]["id"] for c in with_calls}) == 2
    assert chunks[-1].chunk_position == "last" and all(c.chunk_position is None for c in chunks[:-1])
    assert [c for c in chunks if c.usage_metadata] == [chunks[-1]]  # input tokens and model name counted once
    full = chunks[0]
    for c in chunks[1:]:
        full += c
    assert [(c["name"], c["args"]) for c in full.tool_calls] == [("add", {"a": 2, "b": 3}), ("get_weather", {"city": "Oslo"})]
    assert full.content == ""
    model_text = ('<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>\n'
                  '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Oslo"}}\n</tool_call>')
    assert full.usage_metadata["output_tokens"] == -(-len(model_text) // 4)  # the double counts 4 chars a token
    assert full.usage_metadata["input_tokens"] > 0
    assert full.response_metadata["model_name"] == POLICY_MODEL
    assert full.response_metadata["finish_reason"] == "tool_calls"


def test_parallel_tool_calls_false_keeps_the_first_call(policy_server: PolicyServer):
    chat = _model(policy_server).bind_tools([add, get_weather], parallel_tool_calls=False)
    result = chat.invoke("Use add for 2 and 3, then get_weather for 'Oslo'.")
    assert [c["name"] for c in result.tool_calls] == ["add"]


def test_stop_sequence_cuts_the_answer_in_invoke_and_stream(policy_server: PolicyServer):
    chat = _model(policy_server)
    assert chat.invoke("hi, how are you today", stop=["you"]).content == "You said: hi, how are "
    assert "".join(c.text for c in chat.stream("hi, how are you today", stop=["you"])) == "You said: hi, how are "
    assert _model(policy_server, stop=["how"]).invoke("hi, how are you").content == "You said: hi, "


def test_usage_metadata_counts_the_answer(policy_server: PolicyServer):
    result = _model(policy_server).invoke("Hello")
    assert result.content == "You said: Hello"
    assert result.usage_metadata["output_tokens"] == 4  # 15 characters, 4 per token, rounded up
    assert result.usage_metadata["total_tokens"] == result.usage_metadata["input_tokens"] + 4
    assert result.response_metadata == {"finish_reason": "stop", "model_name": POLICY_MODEL,
                                        "model_provider": "qwen_agent"}


def test_named_tool_choice_forces_that_tool_through_the_server(policy_server: PolicyServer):
    before = len(policy_server.policy.prompts)
    result = _model(policy_server).bind_tools([add, get_weather], tool_choice="get_weather").invoke("Hi 'Rome'")
    assert [(c["name"], c["args"]) for c in result.tool_calls] == [("get_weather", {"city": "Rome"})]
    (prompt,) = policy_server.policy.prompts[before:]
    assert prompt[-1].content == '<tool_call>\n{"name": "get_weather", "arguments": '  # the server's prefill
