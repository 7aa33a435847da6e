"""Single-query attention packed by key/value head on the CPU (qwen_agent.llm.local.cpu_attention), against attention
written out from its definition, and a whole model against the same model on transformers' own SDPA."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers.masking_utils")

from qwen_agent.llm.local.cpu_attention import NAME, packed_decode_attention, register  # noqa: E402


class _Layer(torch.nn.Module):
    """What transformers' attention functions read from the calling layer."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.num_key_value_groups, self.is_causal = groups, True


def _by_definition(query, key, value, keep, scale):
    """softmax(q k^T * scale over the kept keys) v per query head, head h reading key/value head h // groups,
    in float64; returns (batch, q_len, heads, dim) like an attention function."""
    groups = query.shape[1] // key.shape[1]
    key, value = (t.double().repeat_interleave(groups, dim=1) for t in (key, value))
    scores = query.double() @ key.transpose(2, 3) * scale
    if keep is not None:
        scores = scores.masked_fill(~keep, -math.inf)
    return (scores.softmax(-1) @ value).transpose(1, 2)


@pytest.mark.parametrize("masked", [False, True])
def test_one_query_per_head_equals_attention_by_definition(masked):
    torch.manual_seed(0)
    batch, heads, kv_heads, length, dim = 2, 6, 2, 9, 8
    query = torch.randn(batch, heads, 1, dim)
    key, value = torch.randn(batch, kv_heads, length, dim), torch.randn(batch, kv_heads, length, dim)
    keep = None
    if masked:  # row 0 left-padded by 3 (a batched decode), row 1 sees everything
        keep = torch.ones(batch, 1, 1, length, dtype=torch.bool)
        keep[0, ..., :3] = False
    out, weights = packed_decode_attention(_Layer(heads // kv_heads), query, key, value, keep, scaling=0.25)
    expected = _by_definition(query, key, value, keep, 0.25)
    assert weights is None and out.shape == (batch, 1, heads, dim)
    assert torch.allclose(out.double(), expected, atol=1e-5)
    if masked:  # the padded keys really were left out: attending to them gives another result
        assert not torch.allclose(out.double(), _by_definition(query, key, value, None, 0.25), atol=1e-3)


def test_several_queries_go_to_transformers_sdpa_unchanged():
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    torch.manual_seed(1)
    query, key, value = torch.randn(1, 4, 5, 8), torch.randn(1, 2, 5, 8), torch.randn(1, 2, 5, 8)
    ours, _ = packed_decode_attention(_Layer(2), query, key, value, None, scaling=0.3)
    theirs, _ = sdpa_attention_forward(_Layer(2), query, key, value, None, scaling=0.3)
    assert torch.equal(ours, theirs)
    # and it is causal attention by definition: query i sees keys 0..i
    keep = torch.ones(5, 5, dtype=torch.bool).tril()[None, None]
    assert torch.allclose(ours.double(), _by_definition(query, key, value, keep, 0.3), atol=1e-5)


def test_a_model_decodes_the_same_tokens_as_on_transformers_sdpa(tiny_qwen2_dir):
    """Greedy decoding of the tiny Qwen2 (4 query heads over 2 key/value heads), batch of two prompts of
    different lengths (left padding, so the decode steps carry a mask): same tokens, logits within float32
    summation-order noise."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert register() == NAME
    tok = AutoTokenizer.from_pretrained(tiny_qwen2_dir, padding_side="left")
    batch = tok(["def add(a, b):", "The capital of France is a city called"], return_tensors="pt", padding=True)
    outs = {}
    for impl in ("sdpa", NAME):
        model = AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir, attn_implementation=impl, dtype=torch.float32)
        assert model.config._attn_implementation == impl
        outs[impl] = model.generate(**batch, max_new_tokens=12, do_sample=False, output_logits=True,
                                    return_dict_in_generate=True)
    assert outs["sdpa"].sequences.tolist() == outs[NAME].sequences.tolist()
    for theirs, ours in zip(outs["sdpa"].logits, outs[NAME].logits, strict=True):
        assert torch.allclose(theirs, ours, atol=1e-4)
