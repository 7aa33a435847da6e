"""Our own OpenAICompatLLM and Agent talking to our server: continuation of an assistant message, streaming,
and a whole ReAct episode where the server is the model."""

from __future__ import annotations

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

    with Agent(get_llm("openai", model=MODEL, base_url=server.base_url, api_key="x"), [add]) as agent:
        assert agent.run("What is 2 + 3?") == "5"
    assert llm.calls[1][0][-1].content.endswith('Action Input: {"a": 2, "b": 3}\nObservation: 5\n')
