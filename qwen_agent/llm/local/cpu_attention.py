"""PyTorch SDPA with single-query decoding packed by key/value head, for the CPU.

A decoding step asks attention for one query per head. With grouped-query attention (Qwen2: 14 query heads
over 2 key/value heads) transformers hands that to `scaled_dot_product_attention(..., enable_gqa=True)`, and on
the CPU in bfloat16 that kernel takes about 10x the time of the same sums with the query heads of a group
stacked as the rows of one query matrix (per layer, 2 threads: 575 µs against 51 at 1,000 cached tokens, 1,741
against 133 at 3,000; `python -m benchmarks.decode_attention`). At an agent's usual 1k-token context that
took an int8 decoding step of the real Qwen2.5-0.5B from 50 ms to 31 ms. The stacked form computes the same
softmax per query row, so the result equals SDPA's up to summation order.

`register()` adds the implementation under `NAME` to transformers' attention and mask registries (the mask is
SDPA's); every other call (prefill, several queries, another device) goes to transformers' own SDPA function.
"""

from __future__ import annotations

from typing import Any

NAME = "sdpa_cpu_decode"


def packed_decode_attention(module: Any, query: Any, key: Any, value: Any, attention_mask: Any,
                            dropout: float = 0.0, scaling: float | None = None, **kwargs: Any) -> tuple[Any, None]:
    """transformers' attention-function signature: query (batch, heads, q_len, dim), key/value (batch,
    kv_heads, kv_len, dim); returns (batch, q_len, heads, dim) and no weights."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, q_len, dim = query.shape
    kv_heads = key.shape[1]
    shared_mask = attention_mask is None or attention_mask.shape[1] == 1  # one mask row for every head
    if (q_len != 1 or query.device.type != "cpu" or heads == kv_heads or not shared_mask
            or kwargs.get("position_bias") is not None or kwargs.get("softcap") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      **kwargs)
    # query heads h*g .. h*g+g-1 share key/value head h (transformers' repeat_kv order): stack them as rows
    packed = query.reshape(batch, kv_heads, heads // kv_heads, dim)
    out = torch.nn.functional.scaled_dot_product_attention(
        packed, key, value, attn_mask=attention_mask, dropout_p=dropout, scale=scaling)
    return out.reshape(batch, heads, 1, dim).transpose(1, 2).contiguous(), None


def register() -> str | None:
    """Make `NAME` loadable as an `attn_implementation`; None where transformers has no attention or mask
    registry for custom functions (before 4.53): the caller keeps plain "sdpa"."""
    try:
        from transformers import AttentionInterface
        from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
    except ImportError:
        return None
    AttentionInterface.register(NAME, packed_decode_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
