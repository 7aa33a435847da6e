"""Decode-loop pieces: incremental detokenization with stop scanning, the prefix cache, sampling."""

from __future__ import annotations

import pytest

from qwen_agent.llm.local.decoding import (
    HeldTokens,
    PrefixCache,
    TextTail,
    common_prefix_len,
    make_generator,
    sample_next,
)
from qwen_agent.schema import GenerationConfig

torch = pytest.importorskip("torch")


def _push_all(tail: TextTail, ids: list[int]) -> list[str]:
    deltas = [tail.push(t) for t in ids]
    deltas.append(tail.flush())
    return deltas


@pytest.mark.parametrize("text", ["Thought: 你好世界 🦩🫠 done.\nObservation: ok", "👨‍👩‍👧‍👦 family", "plain"])
def test_deltas_join_to_the_decoded_text(qwen_tokenizer, text):
    ids = qwen_tokenizer.encode(text)
    tail = TextTail(qwen_tokenizer.decode, [])
    deltas = _push_all(tail, ids)
    assert "".join(deltas) == text == tail.text
    assert all("\ufffd" not in d for d in deltas)  # no half characters shown


def test_a_split_character_is_held_until_complete(qwen_tokenizer):
    first, second = qwen_tokenizer.encode("🦩")  # split after its third byte
    tail = TextTail(qwen_tokenizer.decode, [])
    assert tail.push(first) == ""
    assert tail.push(second) == "🦩"


def test_stop_seen_at_the_token_that_completes_it_even_when_merged(qwen_tokenizer):
    ids = qwen_tokenizer.encode("Action Input: 2\nObservation:\n")
    assert ids[-3:] == [37763, 367, 510]  # "Observation", ":\n" merged into one token
    tail = TextTail(qwen_tokenizer.decode, ["Observation:"])
    for i, token in enumerate(ids):
        tail.push(token)
        assert (tail.stop is not None) == (i == len(ids) - 1)
    assert tail.stop == "Observation:"


def test_stop_spanning_many_tokens_and_deltas(qwen_tokenizer):
    tail = TextTail(qwen_tokenizer.decode, ["<END OF ANSWER>", "zzz"])
    ids = qwen_tokenizer.encode("the answer is 4 <END OF ANSWER> more")
    seen_at = None
    for i, t in enumerate(ids):
        tail.push(t)
        if tail.stop and seen_at is None:
            seen_at = i
    assert tail.stop == "<END OF ANSWER>"
    assert qwen_tokenizer.decode(ids[: seen_at + 1]).endswith("ANSWER>")


def test_per_token_work_does_not_grow_with_the_text(qwen_tokenizer):
    lengths: list[int] = []

    def decode(ids):
        lengths.append(len(ids))
        return qwen_tokenizer.decode(ids)

    tail = TextTail(decode, ["Observation:"])
    ids = qwen_tokenizer.encode("word " * 2000 + "你好 🦩 " * 200)
    _push_all(tail, ids)
    assert len(ids) > 2500
    assert max(lengths) <= 8  # a few tokens of context, never the whole text
    assert tail.stop is None and tail.text.endswith("🦩 ")


def test_held_tokens_show_only_what_cannot_be_taken_back(qwen_tokenizer):
    """Tokens from `held_from` on wait; released once no longer held; dropped unseen when taken back; tokens
    already shown cannot be taken back (a clear error, nothing dropped)."""
    ids = qwen_tokenizer.encode("Sunny. ```json Observation: rest")
    turn = HeldTokens(TextTail(qwen_tokenizer.decode, ["Observation:"]))
    shown = [turn.push(ids[0], None), turn.push(ids[1], None)]
    held = [turn.push(t, 2) for t in ids[2:4]]
    assert "".join(shown) == qwen_tokenizer.decode(ids[:2]) and held == ["", ""]
    turn.keep(2)
    assert turn.ids == ids[:2] and turn.tail.ids == ids[:2]
    with pytest.raises(ValueError, match="cannot take back shown tokens"):
        turn.keep(1)
    assert turn.ids == ids[:2]
    for t in ids[2:]:
        turn.push(t, 2)
    rest = turn.release()  # shown up to the stop string, which ends it
    assert turn.tail.stop == "Observation:" and rest.endswith("Observation:")
    assert len(turn.tail.ids) < len(turn.ids)  # what follows the stop is never shown


def test_common_prefix_len():
    assert common_prefix_len([1, 2, 3], [1, 2, 4, 5]) == 2
    assert common_prefix_len([], [1]) == 0
    assert common_prefix_len([1, 2], [1, 2]) == 2


def _cache_with(n: int):
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer in range(2):
        keys = torch.arange(n, dtype=torch.float32).view(1, 1, n, 1).expand(1, 2, n, 4).contiguous()
        cache.update(keys, keys.clone(), layer)
    return cache


def test_prefix_cache_keeps_the_shared_prefix_and_crops_the_rest():
    prefix = PrefixCache()
    assert prefix.prepare([1, 2, 3]) == (None, 0)
    prefix.record([1, 2, 3, 4, 5], _cache_with(5))  # prompt + generated tokens fed through the model
    cache, reused = prefix.prepare([1, 2, 3, 4, 9, 9])
    assert reused == 4 and cache.get_seq_length() == 4
    assert cache.layers[0].keys[0, 0, :, 0].tolist() == [0, 1, 2, 3]  # the first four positions survive
    assert prefix.ids == [1, 2, 3, 4]


def test_prefix_cache_always_leaves_a_token_to_prefill():
    prefix = PrefixCache()
    prefix.record([1, 2, 3], _cache_with(3))
    cache, reused = prefix.prepare([1, 2, 3])  # the same prompt again: its last token must be fed for logits
    assert reused == 2 and cache.get_seq_length() == 2


def test_prefix_cache_without_reuse_or_without_overlap_starts_fresh():
    prefix = PrefixCache()
    prefix.record([1, 2, 3], _cache_with(3))
    assert prefix.prepare([1, 2, 3, 4], reuse=False) == (None, 0)
    prefix.record([1, 2, 3], _cache_with(3))
    assert prefix.prepare([7, 8]) == (None, 0)
    prefix.record([1, 2, 3], ((torch.zeros(1), torch.zeros(1)),))  # a legacy tuple cache cannot be cropped
    assert prefix.prepare([1, 2, 3, 4]) == (None, 0)


def test_sampling_settings():
    logits = torch.tensor([[0.0, 3.0, 2.9, -1.0], [5.0, 0.0, 0.0, 0.0]])
    assert sample_next(logits, GenerationConfig(temperature=0)).tolist() == [1, 0]
    hot_top1 = GenerationConfig(temperature=5.0, top_k=1, seed=0)
    assert sample_next(logits, hot_top1, make_generator(hot_top1, "cpu")).tolist() == [1, 0]
    hot_nucleus = GenerationConfig(temperature=5.0, top_p=1e-6, seed=0)
    assert sample_next(logits, hot_nucleus, make_generator(hot_nucleus, "cpu")).tolist() == [1, 0]


def test_sampling_with_a_seed_is_reproducible_and_varies():
    logits = torch.zeros(1, 1000)
    config = GenerationConfig(temperature=1.0, seed=7)
    draws = [int(sample_next(logits, config, make_generator(config, "cpu"))[0]) for _ in range(3)]
    assert len(set(draws)) == 1
    gen = make_generator(config, "cpu")
    assert len({int(sample_next(logits, config, gen)[0]) for _ in range(20)}) > 1
    assert make_generator(GenerationConfig(temperature=0, seed=7), "cpu") is None


def test_top_p_keeps_only_the_nucleus():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    config = GenerationConfig(temperature=1.0, top_p=0.7, seed=1)
    gen = make_generator(config, "cpu")
    draws = {int(sample_next(logits, config, gen)[0]) for _ in range(300)}
    assert draws == {0, 1}  # 0.5 + 0.3 reaches 0.7; tokens 2 and 3 are outside the nucleus
