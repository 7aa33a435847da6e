"""One decoding step's attention on the CPU, per layer, Qwen2.5-0.5B's heads (14 query over 2 key/value, 64
dims): transformers' SDPA function against `qwen_agent.llm.local.cpu_attention` (the query heads of a group stacked
as rows), interleaved in one run (`python -m benchmarks.decode_attention [--repeats 200]`).

Prints the microseconds of each per cached-token count and dtype, and the ratio; also the largest difference
between the two outputs, which should be rounding noise of the dtype.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

import torch

from qwen_agent.llm.local.cpu_attention import packed_decode_attention

HEADS, KV_HEADS, DIM = 14, 2, 64


class _Layer(torch.nn.Module):
    num_key_value_groups, is_causal = HEADS // KV_HEADS, True


def best_us(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(5):
        fn()
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1e6


def main() -> None:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--lengths", default="64,1000,3000", help="cached tokens, comma-separated")
    args = parser.parse_args()
    layer = _Layer()
    print(f"{torch.get_num_threads()} threads; best of {args.repeats}\n")
    print("| dtype | cached tokens | transformers SDPA (µs) | packed (µs) | speed-up | max difference |")
    print("|---|---:|---:|---:|---:|---:|")
    for dtype in (torch.bfloat16, torch.float32):
        for length in map(int, args.lengths.split(",")):
            query = torch.randn(1, HEADS, 1, DIM, dtype=dtype)
            key, value = (torch.randn(1, KV_HEADS, length, DIM, dtype=dtype) for _ in range(2))
            inputs = (layer, query, key, value, None)
            theirs = functools.partial(sdpa_attention_forward, *inputs, scaling=DIM**-0.5)
            ours = functools.partial(packed_decode_attention, *inputs, scaling=DIM**-0.5)
            diff = (theirs()[0].float() - ours()[0].float()).abs().max().item()
            t_theirs, t_ours = best_us(theirs, args.repeats), best_us(ours, args.repeats)
            print(f"| {str(dtype).removeprefix('torch.')} | {length} | {t_theirs:.0f} | {t_ours:.0f} "
                  f"| {t_theirs / t_ours:.1f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
