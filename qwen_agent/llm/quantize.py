"""Weight quantization of a loaded model through torchao's `quantize_` (the maintained successor of the
deprecated eager `torch.ao.quantization` functions).

`quantize="int8"` stores every Linear layer's weight (the output head included: at 136M of a 0.5B model's
parameters it is the largest single read of a decode step) as int8 with one scale per output channel, and
computes in the model's dtype. A batch-1 decode step on a CPU reads every weight once, so halving the bytes
read is what speeds it up; see docs/local-backend.md for the measured choice between weight-only and dynamic
activation quantization. The same call works on a CUDA GPU, where its gain is memory (half of bf16's weights),
not speed; that path is not measured on a GPU by this project's tests.
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
