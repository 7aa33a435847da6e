"""`qwen-agent serve --backend transformers` batches concurrent streams in one decode loop: a tiny random Qwen2
checkpoint behind a real server on 127.0.0.1, real openai and httpx clients."""

from __future__ import annotations

import threading
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


class Gates:
    """Hooks on a server's batch loop (undone by `monkeypatch`): `queued` counts the requests added to it, and
    `hold_first_step`, when given, keeps the worker thread after the batch's first decode step (`first_step` is
    set then) until that many requests are queued; `hold_start` keeps it from starting until then. The tests wait on these, not on time."""

    def __init__(self, server, monkeypatch, *, hold_start: int = 0, hold_first_step: int = 0) -> None:
        self.batches = server.worker.batches
        self.arrived = threading.Condition()
        self.queued = 0
        self.first_step = threading.Event()  #: the batch has decoded a step
        add, run, step = self.batches.add, self.batches.run, self.batches.batch.step
        steps = [0]

        def counted_add(request) -> None:
            add(request)
            with self.arrived:
                self.queued += 1
                self.arrived.notify_all()

        def held_run() -> None:
            assert self.wait_for(hold_start), f"only {self.queued} of {hold_start} requests arrived"
            run()

        def held_step():
            rows = step()
            steps[0] += 1
            if steps[0] == 1:
                self.first_step.set()
                assert self.wait_for(hold_first_step), f"only {self.queued} of {hold_first_step} arrived"
            return rows

        monkeypatch.setattr(self.batches, "add", counted_add)
        monkeypatch.setattr(self.batches, "run", held_run)
        monkeypatch.setattr(self.batches.batch, "step", held_step)

    def wait_for(self, n: int, timeout: float = 60) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: self.queued >= n, timeout)


def drained(server) -> None:
    """Return once the model thread has finished everything handed to it so far (its executor runs jobs in
    order, one at a time): no decode step happens after this unless a new request comes."""
    server.worker._executor.submit(lambda: None).result(timeout=60)


def test_concurrent_streams_are_batched_and_equal_each_request_alone(server, monkeypatch):
    free = ask(server.client, 2)[0]
    assert len(free) > 12
    stops = {2: [free[8:11]]}  # request 2 stops early, on its own stop string
    alone = [ask(server.client, i, stop=stops.get(i)) for i in range(6)]  # one at a time: each alone in the batch
    assert alone[2] == (free[: free.index(free[8:11])], "stop")
    drained(server)
    before = len(server.worker.batch_sizes)
    Gates(server, monkeypatch, hold_start=6)  # the model thread starts once all six are queued

    with ThreadPoolExecutor(6) as pool:
        together = list(pool.map(lambda i: ask(server.client, i, stream=i % 2 == 0, stop=stops.get(i)), range(6)))
    assert together == alone
    steps = server.worker.batch_sizes[before:]
    assert steps[0] == 6, steps  # the first decode step served all six requests at once


def test_requests_join_a_batch_that_is_decoding(server, monkeypatch):
    alone = [ask(server.client, i) for i in range(4)]
    drained(server)
    before = len(server.worker.batch_sizes)
    gates = Gates(server, monkeypatch, hold_first_step=4)  # after its first step, the batch waits for the others
    with ThreadPoolExecutor(4) as pool:
        first = [pool.submit(ask, server.client, i) for i in range(2)]
        assert gates.first_step.wait(60)
        later = [pool.submit(ask, server.client, i) for i in range(2, 4)]
        assert [f.result() for f in first + later] == alone
    steps = server.worker.batch_sizes[before:]
    assert steps[0] <= 2 and 4 in steps, steps  # begun by the first ones, joined by the later two


def test_a_client_that_disconnects_frees_its_place(server):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Go on forever"}], "stream": True,
            "max_tokens": 3000, "temperature": 0}
    drained(server)
    before = len(server.worker.batch_sizes)
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(ask, server.client, 1)
        with httpx.stream("POST", server.base_url + "/chat/completions", json=body, timeout=30) as resp:
            lines = resp.iter_lines()
            assert next(lines).startswith("data: ")
            next(lines)
        assert other.result() == ask(server.client, 1)  # the other stream went on, unchanged
    drained(server)  # the loop returned: it had no request left, the one that left included
    assert (server.worker.batches.active, server.worker.batches.waiting) == (0, 0)
    assert len(server.worker.batch_sizes) - before < 1000  # far fewer steps than its 3000 tokens


def test_a_request_that_fails_does_not_stop_the_others(server, monkeypatch):
    too_long = [{"role": "user", "content": "word " * 5000}]  # the tiny model has 4096 positions

    def failing() -> str:
        try:
            list(server.client.chat.completions.create(model="tiny", messages=too_long, max_tokens=5, stream=True))
        except openai.APIError as e:
            return str(e)
        return "no error"

    def failing_plain() -> int:
        try:
            server.client.chat.completions.create(model="tiny", messages=too_long, max_tokens=5)
        except openai.BadRequestError as e:
            return e.status_code
        return 200

    alone = [ask(server.client, i) for i in (3, 4)]
    drained(server)
    gates = Gates(server, monkeypatch, hold_first_step=4)  # the failing two join while the others decode
    with ThreadPoolExecutor(4) as pool:
        runs = [pool.submit(ask, server.client, i) for i in (3, 4)]
        assert gates.first_step.wait(60)
        error, status = pool.submit(failing), pool.submit(failing_plain)
        assert [r.result() for r in runs] == alone
    assert "4096" in error.result() and status.result() == 400
