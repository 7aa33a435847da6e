"""`qwen-agent serve --backend transformers` batches concurrent streams in one decode loop: a tiny random Qwen2
checkpoint behind a real server on 127.0.0.1, real openai and httpx clients."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from tests.server.conftest import running

pytestmark = pytest.mark.slow
pytest.importorskip("transformers")



@pytest.fixture(scope="module")
def tiny(tiny_qwen2_dir):
    from qwen_agent.llm import get_llm

    llm = get_llm("transformers", model=str(tiny_qwen2_dir), dtype="float32")
    yield llm
    llm.close()


@pytest.fixture(scope="module")
def server(tiny):
    # context_window larger than the model's: an over-long prompt reaches the batch and fails there
    with running(tiny, model_name="tiny", context_window=10**6) as srv:
        srv.worker = srv.app.state.qwen.worker
        srv.client = openai.OpenAI(base_url=srv.base_url, api_key="x", max_retries=0, timeout=120)
        yield srv


def ask(client, i: int, stream: bool = True, stop: list[str] | None = None) -> tuple[str, str]:
    """Request i: its own prompt and token limit; returns (text, finish reason)."""
    kwargs = dict(model="tiny", messages=[{"role": "user", "content": f"Tell me story number {i} " * (1 + i % 3)}],
                  max_tokens=30 + 7 * i, temperature=0, stop=stop)
    if not stream:
        choice = client.chat.completions.create(**kwargs).choices[0]
        return choice.message.content, choice.finish_reason
    parts, finish = [], None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for choice in chunk.choices:
            parts.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
    return "".join(parts), finish


def test_concurrent_streams_are_batched_and_equal_each_request_alone(server):
    free = ask(server.client, 2)[0]
    assert len(free) > 12
    stops = {2: [free[8:11]]}  # request 2 stops early, on its own stop string
    alone = [ask(server.client, i, stop=stops.get(i)) for i in range(6)]  # one at a time: each alone in the batch
    assert alone[2] == (free[: free.index(free[8:11])], "stop")
    before = len(server.worker.batch_sizes)
    start = threading.Barrier(6)

    def concurrently(i: int) -> tuple[str, str]:
        start.wait()
        time.sleep(0.02 * i)  # later ones join a running loop
        return ask(server.client, i, stream=i % 2 == 0, stop=stops.get(i))

    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(concurrently, range(6)))
    assert together == alone
    steps = server.worker.batch_sizes[before:]
    assert max(steps) >= 2, steps  # decode steps really served several requests


def test_a_client_that_disconnects_frees_its_place(server):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Go on forever"}], "stream": True,
            "max_tokens": 3000, "temperature": 0}
    before = len(server.worker.batch_sizes)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(ask, server.client, 1)
        with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=30) as resp:
            lines = resp.iter_lines()
            assert next(lines).startswith("data: ")
            next(lines)
        assert other.result() == ask(server.client, 1)  # the other stream went on, unchanged
    deadline = time.monotonic() + 30
    while server.worker.batches.active and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.worker.batches.active == 0
    steps = len(server.worker.batch_sizes) - before
    time.sleep(0.3)
    assert len(server.worker.batch_sizes) - before == steps  # nothing decodes for the client that left
    assert steps < 1000  # far fewer than its 3000 tokens


def test_a_request_that_fails_does_not_stop_the_others(server):
    too_long = [{"role": "user", "content": "word " * 5000}]  # the tiny model has 4096 positions

    def failing() -> str:
        time.sleep(0.1)  # joins while the others decode
        try:
            list(server.client.chat.completions.create(model="tiny", messages=too_long, max_tokens=5, stream=True))
        except openai.APIError as e:
            return str(e)
        return "no error"

    def failing_plain() -> int:
        time.sleep(0.15)
        try:
            server.client.chat.completions.create(model="tiny", messages=too_long, max_tokens=5)
        except openai.BadRequestError as e:
            return e.status_code
        return 200

    alone = [ask(server.client, i) for i in (3, 4)]
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(ask, server.client, i) for i in (3, 4)]
        error, status = pool.submit(failing), pool.submit(failing_plain)
        assert [r.result() for r in runs] == alone
    assert "4096" in error.result() and status.result() == 400
