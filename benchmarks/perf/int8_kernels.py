"""Int8 matmul candidates on the Linear shapes of Qwen2.5-0.5B, against float32, interleaved in one run
(`python -m benchmarks.int8_kernels [--rows 1] [--repeats 20]`).

Rows = activation rows: 1 is a batch-1 decode step, hundreds a prefill. Candidates, each with per-row int8
weights: torch's int8-weight kernel `aten._weight_int8pack_mm` (bf16 and float32 activations), dynamic int8
activations through `torch._int_mm`, and fbgemm's `quantized::linear_dynamic` (what the deprecated eager
`quantize_dynamic` dispatches to; its quantized-tensor inputs are deprecated too). Prints the best time of each
and its speed-up over float32; the figures that transfer to another machine are the ratios.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

# (out, in) of q/o, k/v, gate/up, down, and the output head
SHAPES = {"q/o": (896, 896), "k/v": (128, 896), "gate/up": (4864, 896), "down": (896, 4864), "head": (151936, 896)}


def candidates(out_features: int, in_features: int, rows: int) -> dict[str, Callable[[], object]]:
    w, x = torch.randn(out_features, in_features) * 0.02, torch.randn(rows, in_features)
    scale = w.abs().amax(1) / 127
    q = torch.round(w / scale[:, None]).to(torch.int8)
    q_t, wb, xb, sb = q.t().contiguous(), w.bfloat16(), x.bfloat16(), scale.bfloat16()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated; measured here for comparison only
        zero = torch.zeros(out_features, dtype=torch.long)
        packed = torch.ops.quantized.linear_prepack(torch.quantize_per_channel(w, scale.double(), zero, 0, torch.qint8), None)

    def int_mm() -> torch.Tensor:
        x_scale = x.abs().amax(1, keepdim=True) / 127
        return torch._int_mm(torch.round(x / x_scale).to(torch.int8), q_t).float() * x_scale * scale

    return {
        "float32": lambda: F.linear(x, w),
        "bf16": lambda: F.linear(xb, wb),
        "int8pack_mm bf16": lambda: torch.ops.aten._weight_int8pack_mm(xb, q, sb),
        "int8pack_mm fp32": lambda: torch.ops.aten._weight_int8pack_mm(x, q, scale),
        "_int_mm dynamic": int_mm,
        "fbgemm dynamic": lambda: torch.ops.quantized.linear_dynamic(x, packed, True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-head", action="store_true", help="skip the 151936-row output head (slow at many rows)")
    args = parser.parse_args()
    torch.manual_seed(0)
    shapes = {k: v for k, v in SHAPES.items() if not (args.no_head and k == "head")}
    runs = {name: candidates(*shape, args.rows) for name, shape in shapes.items()}
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.repeats + 1):  # interleaved: load from other work hits every candidate alike
        for name, fns in runs.items():
            for label, fn in fns.items():
                start = time.perf_counter()
                fn()
                best[name, label] = min(best.get((name, label), float("inf")), time.perf_counter() - start)
    labels = list(next(iter(runs.values())))
    print(f"{args.rows} activation row(s), {torch.get_num_threads()} threads; ms (speed-up over float32)\n")
    print("| shape (out x in) | " + " | ".join(labels) + " |")
    print("|---|" + "---:|" * len(labels))
    for name, (n, k) in shapes.items():
        cells = [f"{best[name, lab] * 1e3:.3f} ({best[name, 'float32'] / best[name, lab]:.2f}x)" for lab in labels]
        print(f"| {name} {n}x{k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
