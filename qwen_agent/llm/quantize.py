"""Weight quantization of a loaded model through torchao's `quantize_` (the maintained successor of the
deprecated eager `torch.ao.quantization` functions).

`quantize="int8"` stores every Linear layer's weight (the output head included) as int8 with one scale per
output channel, and computes in the model's dtype. It halves bf16's weight memory. On this project's CPU
(torchao 0.18, torch 2.13) it decodes 5x slower than bf16 (no fused int8 CPU kernel is dispatched; measured
in docs/local-backend.md), so it is never a default; on a CUDA GPU the same call saves memory, a path this
project's tests do not exercise.
"""

from __future__ import annotations

from typing import Any

from qwen_agent.errors import MissingDependencyError


def _import_torchao() -> Any:
    try:
        from torchao import quantization
    except ImportError as e:
        raise MissingDependencyError("torchao", "local", "quantize='int8'") from e
    return quantization


def quantize_model(model: Any, mode: str) -> None:
    """Quantize `model`'s Linear layers in place ("int8": int8 weights, per-channel scales)."""
    if mode != "int8":
        raise ValueError(f"unknown quantization mode {mode!r}")
    quantization = _import_torchao()
    quantization.quantize_(model, quantization.Int8WeightOnlyConfig())
