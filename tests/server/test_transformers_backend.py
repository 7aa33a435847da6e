"""The real local path: the server over TransformersLLM with a tiny random-weight Qwen2 model.

Needs `qwen_agent.llm.local.transformers` and the `tiny_qwen2_dir` fixture (tests/conftest.py); skipped with the
reason when either is not there yet.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from tests.server.conftest import running

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_server(tiny_qwen2_dir):
    from qwen_agent.llm import get_llm

    llm = get_llm("transformers", model=str(tiny_qwen2_dir))
    with running(llm, model_name="tiny") as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0, timeout=120)
        client.worker = server.app.state.qwen.worker  # to see how requests were batched
        yield client
    llm.close()


USER = [{"role": "user", "content": "Hello"}]
TOOL = {"type": "function", "function": {"name": "lookup", "description": "Look a word up.",
                                         "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


def test_plain_and_streamed_answers_agree_under_greedy_decoding(tiny_server):
    resp = tiny_server.chat.completions.create(model="tiny", messages=USER, max_tokens=8, temperature=0)
    text = resp.choices[0].message.content
    assert isinstance(text, str)
    assert 0 < resp.usage.completion_tokens <= 8 and resp.usage.prompt_tokens > 0
    stream = tiny_server.chat.completions.create(model="tiny", messages=USER, max_tokens=8, temperature=0,
                                                 stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == text


def test_forced_tool_call_and_concurrent_requests(tiny_server):
    resp = tiny_server.chat.completions.create(model="tiny", messages=USER, tools=[TOOL], tool_choice="required",
                                               max_tokens=8, temperature=0)
    calls = resp.choices[0].message.tool_calls
    assert [c.function.name for c in calls] == ["lookup"]  # forced by the prefill, whatever the weights say
    assert "Observation" not in calls[0].function.arguments

    def ask(i: int) -> str:
        msgs = [{"role": "user", "content": f"Count to {i}"}]
        return tiny_server.chat.completions.create(model="tiny", messages=msgs, max_tokens=6,
                                                   temperature=0).choices[0].message.content

    before = len(tiny_server.worker.batch_sizes)
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(ask, range(4)))
    batches = tiny_server.worker.batch_sizes[before:]
    assert 1 <= max(batches) <= 4  # rows per decode step: the requests shared steps, or ran one by one
    # whether batched or one by one, the greedy text is the same
    assert concurrent == [ask(i) for i in range(4)]
    completion = tiny_server.completions.create(model="tiny", prompt="Once upon", max_tokens=5, temperature=0)
    assert completion.usage.completion_tokens <= 5
