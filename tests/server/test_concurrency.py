"""Concurrent clients: every request gets one whole scripted response; none interleave or lose text."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.server.conftest import MODEL


def test_concurrent_streams_and_plain_requests_are_complete(serve_scripted):
    responses = [f"Response {i}: " + " ".join(f"w{i}_{j}" for j in range(40)) for i in range(16)]
    llm, client, _ = serve_scripted(responses, chunk_size=5)

    def ask(i: int) -> str:
        msgs = [{"role": "user", "content": f"q{i}"}]
        if i % 2:
            return client.chat.completions.create(model=MODEL, messages=msgs).choices[0].message.content
        stream = client.chat.completions.create(model=MODEL, messages=msgs, stream=True)
        return "".join(c.choices[0].delta.content or "" for c in stream)

    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(ask, range(16)))
    assert sorted(got) == sorted(responses)
    # each client got the response generated for its own prompt (the k-th model call replays responses[k])
    asked = [prompt[-1].content for prompt, _ in llm.calls]
    assert sorted(asked) == sorted(f"q{i}" for i in range(16))
    assert all(got[i] == responses[asked.index(f"q{i}")] for i in range(16))


def test_client_that_disconnects_cancels_its_generation(serve_scripted):
    # A reply far larger than the stream buffer: the model thread must wait for this client, so only
    # cancellation on disconnect lets the next request through (else it times out after 20 s and fails).
    llm, client, server = serve_scripted(["x" * 400_000, "second"], chunk_size=1)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "a"}], "stream": True}
    with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=10) as resp:
        first = next(resp.iter_lines())
        assert first.startswith("data: ")
    answer = client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "b"}])
    assert answer.choices[0].message.content == "second"
