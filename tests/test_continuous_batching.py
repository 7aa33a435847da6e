"""Continuous batching (`qwen_agent.llm.local.continuous`) on a tiny random Qwen2 checkpoint: rows that join a running
decode loop, stop early or leave write exactly what the same request writes alone."""

from __future__ import annotations

import pytest

from qwen_agent.errors import ContextLengthError
from qwen_agent.llm.local.decoding import common_prefix_len
from qwen_agent.schema import GenerationConfig, Message

pytest.importorskip("torch")
pytest.importorskip("transformers")

from qwen_agent.llm.local.transformers import TransformersLLM  # noqa: E402

PROMPT = "Question: What is 21 * 2?\nThought: I should use the calculator.\nAction:"
GREEDY = GenerationConfig(max_tokens=24)


@pytest.fixture(scope="module")
def alone(tiny_qwen2_dir):
    """The reference: each request run by itself (prefix reuse off)."""
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, reuse_prefix=False, dtype="float32") as model:
        yield model


@pytest.fixture
def served(tiny_qwen2_dir):
    """The backend a server batches over (prefix reuse on, as `qwen-agent serve` runs it)."""
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, dtype="float32") as model:
        yield model


def run_alone(llm, prompt, stop=(), config=GREEDY):
    chunks = list(llm.stream(prompt, stop=stop, config=config))
    return [c.text for c in chunks if c.text], chunks[-1].finish_reason, chunks[-1].usage.completion_tokens


def collect(rows_chunks):
    texts = [c.text for c in rows_chunks if c.text]
    return texts, rows_chunks[-1].finish_reason, rows_chunks[-1].usage.completion_tokens


def test_rows_joining_mid_decode_write_what_they_write_alone(served, alone):
    free = alone.generate(PROMPT).text
    assert len(free) > 20, "the tiny model should write a long enough reply to cut"
    chat = [Message(role="user", content="Count from one to ten, please, in words.")]
    long_prompt = "A much longer prompt than the others, so every running row is padded on the left. " * 6 + "Go:"
    requests = {  # name: (join before step, prompt, stop strings, settings)
        "first": (0, PROMPT, [], GREEDY),
        "stops early": (0, PROMPT, [free[10:14]], GREEDY),
        "chat": (3, chat, [], GenerationConfig(max_tokens=30)),
        "longest prompt": (6, long_prompt, [], GREEDY),
        "five tokens": (6, "Once upon a time", [], GenerationConfig(max_tokens=5)),
        "sampled": (9, PROMPT, [], GenerationConfig(max_tokens=16, temperature=0.9, seed=7)),
    }
    batch = served.open_batch()
    rows, chunks, widths = {}, {}, []
    for step in range(200):
        for name, (at, prompt, stop, config) in requests.items():
            if at == step:
                rows[name] = batch.join(prompt, stop, config)
        for name, row in rows.items():
            chunks.setdefault(name, []).extend(row.drain())
        if step > 9 and not len(batch):
            break
        widths.append(batch.width)
        batch.step()
    assert max(widths) > len(served.codec.encode(long_prompt))  # the long prompt really ran in the batch
    for name, (_, prompt, stop, config) in requests.items():
        assert rows[name].finish is not None, name
        assert collect(chunks[name]) == run_alone(alone, prompt, stop, config), name
    assert collect(chunks["stops early"])[1] == "stop" and free[10:14] not in "".join(collect(chunks["stops early"])[0])
    assert collect(chunks["five tokens"])[1:] == ("length", 5)


def test_a_finished_row_leaves_its_cache_for_the_next_prompt(served, alone):
    batch = served.open_batch()
    first = batch.join(PROMPT, [], GREEDY)
    while len(batch):
        batch.step()
    prompt_ids, written = first.fed[: first.prompt_tokens], first.fed[first.prompt_tokens :]
    # the longest start of what it wrote that re-encodes to the same tokens (random weights write odd text)
    k = max(n for n in range(len(written) + 1)
            if served.codec.encode(PROMPT + served.codec.decode(written[:n])) == prompt_ids + written[:n])
    assert k >= 3
    follow_up = PROMPT + served.codec.decode(written[:k]) + "\nObservation: 42\nThought:"
    second = batch.join(follow_up, [], GREEDY)
    while len(batch):
        batch.step()
    out = second.drain()
    assert out[-1].usage.cached_tokens == common_prefix_len(first.fed, served.codec.encode(follow_up)) >= len(prompt_ids) + k
    assert collect(out) == run_alone(alone, follow_up)


def test_a_row_that_leaves_frees_its_place_and_the_others_go_on(served, alone):
    batch = served.open_batch()
    quitter = batch.join(PROMPT, [], GenerationConfig(max_tokens=200))
    stayer = batch.join("Once upon a time", [], GREEDY)
    for _ in range(3):
        batch.step()
    batch.leave(quitter)
    assert batch.rows == [stayer] and batch.width == len(stayer.fed)  # the quitter's longer columns are gone
    while len(batch):
        batch.step()
    assert quitter.finish is None
    assert collect(stayer.drain()) == run_alone(alone, "Once upon a time")


def test_a_prompt_that_cannot_join_raises_and_leaves_the_batch_alone(served, alone):
    batch = served.open_batch()
    row = batch.join(PROMPT, [], GREEDY)
    batch.step()
    with pytest.raises(ContextLengthError):
        batch.join("word " * 5000, [], GREEDY)  # the tiny model has 4096 positions
    with pytest.raises(ValueError, match="no tokens"):
        batch.join("", [], GREEDY)
    assert batch.rows == [row]
    while len(batch):
        batch.step()
    assert collect(row.drain()) == run_alone(alone, PROMPT)


def test_zero_token_budget_ends_at_once(served):
    row = served.open_batch().join(PROMPT, [], GenerationConfig(max_tokens=0))
    [last] = row.drain()
    assert (last.text, last.finish_reason, last.usage.completion_tokens) == ("", "length", 0)


class FailingDecodeStep:
    """A forward pre-hook on the real model that raises at the first decode step of two or more rows."""

    def __init__(self, model):
        self.fired = False
        self.handle = model.register_forward_pre_hook(self, with_kwargs=True)

    def __call__(self, module, args, kwargs):
        ids = kwargs.get("input_ids")
        if not self.fired and ids is not None and ids.shape[0] >= 2 and ids.shape[1] == 1:
            self.fired = True
            raise RuntimeError("device lost")
        return None


def test_a_decode_step_that_raises_empties_the_batch_and_the_next_rows_decode_right(served, alone):
    batch = served.open_batch()
    rows = [batch.join(PROMPT, [], GREEDY), batch.join("Once upon a time", [], GREEDY)]
    failing = FailingDecodeStep(served.model)
    try:
        with pytest.raises(RuntimeError, match="device lost"):
            batch.step()
    finally:
        failing.handle.remove()
    assert failing.fired and len(batch) == 0 and batch.width == 0 and all(r.finish is None for r in rows)
    again = batch.join(PROMPT, [], GREEDY)  # the batch is usable again, and its cache is not corrupted
    while len(batch):
        batch.step()
    assert collect(again.drain()) == run_alone(alone, PROMPT)


def test_the_server_loop_fails_every_request_of_a_failing_step_and_serves_the_next(served, alone):
    import asyncio

    from qwen_agent.server.batching import END, BatchLoop, BatchRequest, Failure
    from qwen_agent.server.worker import _Channel

    loop = asyncio.new_event_loop()
    try:
        batching = BatchLoop(served.open_batch(), max_batch=8)
        first = [BatchRequest(p, [], GREEDY, _Channel(loop, 1000)) for p in (PROMPT, "Once upon a time")]
        for request in first:
            batching.add(request)
        failing = FailingDecodeStep(served.model)
        try:
            batching.run()
        finally:
            failing.handle.remove()
        assert failing.fired
        later = BatchRequest(PROMPT, [], GREEDY, _Channel(loop, 1000))
        batching.add(later)
        batching.run()
        loop.run_until_complete(asyncio.sleep(0))  # deliver what the worker side sent

        def items(request):
            return [request.channel.queue.get_nowait() for _ in range(request.channel.queue.qsize())]

        for request in first:
            got = items(request)
            assert got[-1] is END and isinstance(got[-2], Failure) and "device lost" in str(got[-2].error)
        served_later = items(later)
        assert served_later[-1] is END and not any(isinstance(i, Failure) for i in served_later)
        assert collect([i for i in served_later if i is not END]) == run_alone(alone, PROMPT)
        assert batching.active == 0
    finally:
        loop.close()
