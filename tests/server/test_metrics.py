"""`/metrics` of a real server on 127.0.0.1 after a few requests: every value worked out by hand from the
requests sent (the scripted model counts one completion token per character; prompts count 7 tokens each)."""

from __future__ import annotations

import re

import httpx
import openai
import pytest

from tests.server.conftest import MODEL

KEY = "s3cret"
REPLY = "Hello there"  # 11 characters: 11 completion tokens


def scrape(server, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.get(f"http://127.0.0.1:{server.port}/metrics", headers=headers, timeout=10)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of the series `name{labels}` (labels in any order); KeyError when absent."""
    for line in text.splitlines():
        m = re.fullmatch(r"([^{ ]+)(?:\{(.*)\})? (\S+)", line)
        if not m or line.startswith("#") or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if got == labels:
            return float(m.group(3))
    raise KeyError(f"{name}{labels}")


@pytest.fixture
def served(serve_scripted):
    llm, client, server = serve_scripted([REPLY], api_key=KEY, count_tokens=lambda text: 7)
    llm.cycle = True
    return client, server


def test_metrics_after_a_few_requests(served):
    client, server = served
    for _ in range(2):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    chunks = list(client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                 stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == REPLY
    client.completions.create(model=MODEL, prompt="once upon")
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "hi"}])

    resp = scrape(server)
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = resp.text
    m = {"model_name": MODEL}
    # four requests reached the model: three chats and one completion
    assert sample(text, "qwen_agent:request_success_total", **m, finished_reason="stop") == 4
    assert sample(text, "qwen_agent:prompt_tokens_total", **m) == 4 * 7
    assert sample(text, "qwen_agent:generation_tokens_total", **m) == 4 * 11
    assert sample(text, "qwen_agent:prefix_cache_queries_total", **m) == 28
    assert sample(text, "qwen_agent:prefix_cache_hits_total", **m) == 0  # the scripted model caches nothing
    assert sample(text, "qwen_agent:e2e_request_latency_seconds_count", **m) == 4
    # only the streamed request has a first token and a per-token latency
    assert sample(text, "qwen_agent:time_to_first_token_seconds_count", **m) == 1
    assert sample(text, "qwen_agent:time_per_output_token_seconds_count", **m) == 1
    assert sample(text, "qwen_agent:time_to_first_token_seconds_bucket", **m, le="+Inf") == 1
    ttft = sample(text, "qwen_agent:time_to_first_token_seconds_sum", **m)
    assert 0 < ttft < sample(text, "qwen_agent:e2e_request_latency_seconds_sum", **m)
    # nothing waits or runs once every answer is in
    assert sample(text, "qwen_agent:num_requests_waiting", **m) == 0
    assert sample(text, "qwen_agent:num_requests_running", **m) == 0
    # HTTP statuses, the 404 and this scrape's own earlier refusal-free history included
    assert sample(text, "qwen_agent:http_requests_total", handler="/v1/chat/completions", status="200") == 3
    assert sample(text, "qwen_agent:http_requests_total", handler="/v1/chat/completions", status="404") == 1
    assert sample(text, "qwen_agent:http_requests_total", handler="/v1/completions", status="200") == 1


def test_metrics_needs_the_api_key_and_counts_refusals(served):
    client, server = served
    refused = scrape(server, key=None)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "invalid_api_key"
    assert scrape(server, key="wrong").status_code == 401
    keyless = openai.OpenAI(base_url=server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        keyless.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}])
    text = scrape(server).text
    assert sample(text, "qwen_agent:http_requests_total", handler="/metrics", status="401") == 2
    # refused by the middleware before the route ran, and still counted
    assert sample(text, "qwen_agent:http_requests_total", handler="/v1/chat/completions", status="401") == 1
    with pytest.raises(KeyError):  # no request reached the model
        sample(text, "qwen_agent:request_success_total", model_name=MODEL, finished_reason="stop")


def test_waiting_and_running_while_the_model_is_busy(serve_scripted):
    """Three requests against a model that blocks: one runs, two wait (the model serves one at a time)."""
    import threading

    from qwen_agent.llm.scripted import ScriptedLLM
    from qwen_agent.server import ServerThread, create_app

    release = threading.Event()

    class Blocking(ScriptedLLM):
        def _generate(self, prompt, stop, config):
            release.wait(20)
            return super()._generate(prompt, stop, config)

    llm = Blocking([REPLY], cycle=True)
    with ServerThread(create_app(llm, model_name=MODEL)) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", max_retries=0, timeout=30)
        threads = [threading.Thread(target=client.chat.completions.create,
                                    kwargs={"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})
                   for _ in range(3)]
        for t in threads:
            t.start()
        try:
            for _ in range(200):
                text = scrape(server, key=None).text
                if sample(text, "qwen_agent:num_requests_waiting", model_name=MODEL) == 2:
                    break
                threading.Event().wait(0.05)
            assert sample(text, "qwen_agent:num_requests_waiting", model_name=MODEL) == 2
            assert sample(text, "qwen_agent:num_requests_running", model_name=MODEL) == 1
        finally:
            release.set()
            for t in threads:
                t.join(30)
        text = scrape(server, key=None).text
        assert sample(text, "qwen_agent:request_success_total", model_name=MODEL, finished_reason="stop") == 3
        assert sample(text, "qwen_agent:num_requests_waiting", model_name=MODEL) == 0
