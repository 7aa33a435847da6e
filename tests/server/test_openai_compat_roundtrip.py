"""Our own OpenAICompatLLM and Agent talking to our server: continuation of an assistant message, streaming,
a whole ReAct episode where the server is the model, and tool_format "server" (the server parses the calls)."""

from __future__ import annotations

import pytest

from qwen_agent.agent import Agent
from qwen_agent.llm import get_llm
from qwen_agent.schema import GenerationConfig, Message
from tests.server.conftest import MODEL


def test_openai_compat_llm_continues_assistant_message_through_server(serve_scripted):
    llm, _, server = serve_scripted([" there, friend.", " there, friend."])
    client_llm = get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x")
    prompt = [Message.user("Greet me"), Message.assistant("Hello")]
    config = GenerationConfig(max_tokens=20, top_k=5)
    assert client_llm.generate(prompt, config=config).text == " there, friend."
    assert "".join(c.text for c in client_llm.stream(prompt, stop=["friend"])) == " there, "
    assert llm.calls[0][0][-1] == Message.assistant("Hello")  # continued, not a new turn
    assert llm.calls[1][1] == ["friend"]
    client_llm.close()


def test_agent_runs_react_episode_against_server(serve_scripted):
    llm, _, server = serve_scripted([
        'Thought: add them\nAction: add\nAction Input: {"a": 2, "b": 3}\nObservation: 99',
        "Thought: I now know the final answer\nFinal Answer: 5",
    ])

    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first.
            b: second.
        """
        return a + b

    with Agent(get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x"), [add],
               tool_format="react") as agent:
        assert agent.run("What is 2 + 3?") == "5"
    assert llm.calls[1][0][-1].content.endswith('Action Input: {"a": 2, "b": 3}\nObservation: 5\n')


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first.
        b: second.
    """
    return a + b


CALL = '<think>\nI add.\n</think>\n\n<tool_call>\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n</tool_call>'


@pytest.mark.parametrize("stream", [False, True])
def test_server_format_sends_tools_and_reads_structured_calls_and_reasoning(serve_scripted, stream):
    """tool_format="server": OpenAI `tools` go to a server that parses calls (ours, in Hermes); its `tool_calls`
    and `reasoning_content` come back into the agent, plain and streamed."""
    upstream, _, server = serve_scripted([CALL, "<think>\nDone.\n</think>\n\nIt is 5."], tool_format="hermes")
    shown: list[str] = []
    with Agent(get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x"), [add],
               tool_format="server") as agent:
        result = agent.run_result("What is 2 + 3?", on_text=shown.append if stream else None)
    assert result.answer == "It is 5." and result.finished
    call = result.messages[1]
    assert call.tool_calls[0].name == "add" and call.reasoning_content == "I add."
    assert result.steps[1].observation == "5"
    assert result.messages[-1].reasoning_content == "Done."
    assert ("".join(shown) == "It is 5.") if stream else shown == []
    first_prompt = upstream.calls[0][0]
    assert '"name": "add"' in first_prompt[0].content  # the server rendered the tools we sent
    assert first_prompt[-1] == Message.user("What is 2 + 3?")
    second_prompt = upstream.calls[1][0]
    assert second_prompt[-2] == Message.user("<tool_response>\n5\n</tool_response>")
    assert second_prompt[-1].content.endswith("My question: What is 2 + 3?")  # EpisodePolicy.ask_after_results


def test_server_format_sends_tool_choice_for_the_server_to_enforce(serve_scripted):
    upstream, _, server = serve_scripted(['{"a": 2, "b": 3}}\n</tool_call>', "5"], tool_format="hermes")
    with Agent(get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x"), [add],
               tool_format="server", tool_choice="add") as agent:
        assert agent.run("What is 2 + 3?") == "5"
    # the upstream server forced the call (its own prefill); the answer turn was free ("forced once")
    assert upstream.calls[0][0][-1] == Message.assistant('<tool_call>\n{"name": "add", "arguments": ')
    assert upstream.calls[1][0][-1].role == "user"
