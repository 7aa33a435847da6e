"""tool_format "server": the calls an upstream server parsed keep their ids and arguments end to end (the agent's
messages, our server's responses in front of it, LangChain), and text the server left in its content is read
for calls only when it parsed none. Real HTTP servers on 127.0.0.1; the model's words are scripted."""

from __future__ import annotations

import json

import openai
import pytest

from qwen_agent.agent import Agent
from qwen_agent.formats import get_format
from qwen_agent.formats.template import server_reply_text
from qwen_agent.llm import get_llm
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from qwen_agent.server import ServerThread, create_app
from tests.server.conftest import MODEL

# What the scripted model writes: two calls, each with an id, as a server's Hermes reader takes them.
TWO_CALLS = (
    '<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}, "id": "call_first7"}\n</tool_call>\n'
    '<tool_call>\n{"name": "add", "arguments": {"a": 10, "b": 20}, "id": "call_second8"}\n</tool_call>'
)


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first.
        b: second.
    """
    return a + b


@pytest.mark.parametrize("stream", [False, True])
def test_agent_keeps_the_servers_call_ids_and_arguments(serve_scripted, stream):
    upstream, client, server = serve_scripted([TWO_CALLS, "30 and 5."], tool_format="hermes")
    # the upstream server's own reply carries the ids (what vLLM's parser would send)
    with Agent(get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x"), [add],
               tool_format="server") as agent:
        result = agent.run_result("Add 2+3 and 10+20.", on_text=(lambda _: None) if stream else None)
    calls = result.messages[1].tool_calls
    assert [(c.id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_first7", "add", {"a": 2, "b": 3}), ("call_second8", "add", {"a": 10, "b": 20})]
    results = [m for m in result.messages if m.role == "tool"]
    assert [(m.tool_call_id, m.content) for m in results] == [("call_first7", "5"), ("call_second8", "30")]
    assert result.answer == "30 and 5."


def test_our_server_in_front_of_another_passes_the_ids_on(serve_scripted):
    _, _, upstream = serve_scripted([TWO_CALLS, TWO_CALLS], tool_format="hermes")
    front = OpenAICompatLLM(MODEL, base_url=upstream.base_url, api_key="x")
    with ServerThread(create_app(front, model_name="front", tool_format="server")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=30)
        tools = [{"type": "function", "function": {"name": "add", "parameters": {
            "type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}}}]
        messages = [{"role": "user", "content": "Add 2+3 and 10+20."}]
        reply = client.chat.completions.create(model="front", messages=messages, tools=tools)
        calls = reply.choices[0].message.tool_calls
        assert [(c.id, json.loads(c.function.arguments)) for c in calls] == [
            ("call_first7", {"a": 2, "b": 3}), ("call_second8", {"a": 10, "b": 20})]
        assert reply.choices[0].finish_reason == "tool_calls"
        streamed = client.chat.completions.create(model="front", messages=messages, tools=tools, stream=True)
        ids = [c.id for event in streamed for choice in event.choices for c in choice.delta.tool_calls or [] if c.id]
        assert ids == ["call_first7", "call_second8"]
    front.close()


def test_langchain_tool_calls_keep_the_servers_ids(serve_scripted):
    from qwen_agent.integrations.langchain import ChatQwenAgent

    _, _, server = serve_scripted([TWO_CALLS], tool_format="hermes")
    chat = ChatQwenAgent(llm=get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x"),
                         tool_format="server")
    message = chat.bind_tools([add]).invoke("Add 2+3 and 10+20.")
    assert [(c["id"], c["args"]) for c in message.tool_calls] == [
        ("call_first7", {"a": 2, "b": 3}), ("call_second8", {"a": 10, "b": 20})]


def test_content_beside_parsed_calls_stays_text():
    # the server parsed one call; its content quotes the markup: not a second call
    text = server_reply_text("Use <tool_call> tags.", "", [("add", '{"a": 1, "b": 2}', "call_x1")])
    parsed = get_format("hermes").parse(text, tools=[])
    assert [(c.id, c.name) for c in parsed.tool_calls] == [("call_x1", "add")]
    assert parsed.content.replace("\u2060", "") == "Use <tool_call> tags."


def test_content_is_read_for_calls_when_the_server_parsed_none():
    # the small model's call the server's parser missed (left in content): recovered, with a fresh id
    text = server_reply_text('<tool_call>\n{"name": "add", "arguments": {"a": 1, "b": 2}}\n</tool_call>')
    parsed = get_format("hermes").parse(text, tools=[])
    assert [(c.name, json.loads(c.arguments)) for c in parsed.tool_calls] == [("add", {"a": 1, "b": 2})]
    assert parsed.tool_calls[0].id.startswith("call_")
