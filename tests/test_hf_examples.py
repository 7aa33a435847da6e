"""The HF-agent and smolagents examples, run as a user would, against a scripted server on 127.0.0.1."""

from __future__ import annotations

import pytest

from tests.scripted_server import ScriptedOpenAIServer
from tests.test_examples_and_cli import _run


def test_example_hf_agent_run() -> None:
    script = [" tools: `shout` to write the sentence in capitals, then `word_count`.\n\nAnswer:\n```py\n"
              "loud = shout(sentence)\nword_count(loud)\n```"]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/hf_agent_run.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-2:] == ["code: loud = shout(sentence); word_count(loud)", "result: 3"]
    request = server.requests[0]
    assert request["stop"] == ["Task:"] and request["messages"][-1] == {
        "role": "assistant", "content": "I will use the following"}


@pytest.mark.slow  # a subprocess importing smolagents: about 5 s
def test_example_smolagents_code_agent() -> None:
    pytest.importorskip("smolagents")
    script = ["Thought: price times five.\n<code>\nprice = unit_price('apple')\nfinal_answer(price * 5)\n</code>"]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/smolagents_code_agent.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "17.5"
    assert "</code>" in server.requests[0]["stop"]
