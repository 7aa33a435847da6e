"""Int8 weights for a loaded model: every `nn.Linear` (the output head included) becomes an `Int8Linear`.

Each weight row (output channel) is stored as int8 with one scale, `scale = max|row| / 127`, so an element is
off by at most `scale / 2` from the original. The layer computes in the model's dtype:
- on the CPU, a few rows of activations at a time (decoding) go to `torch.ops.aten._weight_int8pack_mm`,
  torch's maintained int8-weight CPU kernel (bf16 activations): it reads a quarter of float32's bytes per
  weight, which is what bounds decoding;
- many rows (prefill) and other devices convert the int8 values to the activations' dtype and use the dense
  matmul, scaling its output: the kernel is compute-bound past a few rows (it converts every weight to float
  for each block of 4 rows), where converting once and bf16's matmul win (measured, docs). The conversion
  goes into a buffer kept per thread (`DequantBuffer`), not a fresh tensor each call: a fresh one cost 2-3x
  as much (page faults on every prefill).
Weight memory is a quarter of float32's (half of bf16's) on any device, but for the output head's bf16 copy on a
CPU once a decode batch is wider than 4 rows (`Int8Linear`).

Chosen over torchao's `Int8WeightOnlyConfig` / `Int8DynamicActivationInt8WeightConfig` (slower than bf16 at
decode on this project's CPU) and the eager `quantize_dynamic` (deprecated, as are quantized tensors);
figures in docs/local-backend.md.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import nn

from qwen_agent.llm.local.file_pages import CheckpointPages

QUANT_MAX = 127
KERNEL_MAX_ROWS = 32  # above this many activation rows the dense matmul is faster (measured on AVX512)
# bf16 activations: the dense bf16 matmul over `DequantBuffer` is faster above 16 rows (one layer of the 0.5B, one
# thread, AMX: 9.5 ms for the kernel against 13.8 at 12 rows, 13.3 against 13.6 at 16, 19.0 against 13.4 at 24)
KERNEL_MAX_ROWS_BF16 = 16
KERNEL_NARROW_ROWS = 4  # the kernel converts each weight to float once per block of 4 rows: past 4, it computes
KERNEL_IN_MULTIPLE = 64  # the CPU kernel reads whole vectors: other input widths give wrong sums or crash
KERNEL_PRESENT = hasattr(torch.ops.aten, "_weight_int8pack_mm")  # torch 2.3 and later
# weight elements quantized at a time (1 MB as float32). Bigger temporaries made peak memory erratic: glibc
# raises its mmap threshold to the largest block freed, after which each freed temporary stays in the heap
# (loading Qwen2.5-0.5B in int8 peaked anywhere from 1.9 to 3.8 GB with 8,192-row chunks; the same in every run since).
QUANTIZE_CHUNK_ELEMENTS = 1 << 18
# the largest weight converted into a thread's kept buffer (64 MB in bf16); bigger ones (a 7B's output head)
# get a temporary, so no thread holds a buffer the size of the largest layer for good
BUFFER_MAX_ELEMENTS = 1 << 25


class DequantBuffer(threading.local):
    """A scratch tensor per thread (and dtype, device) that dense int8 matmuls convert their weights into.

    Per thread, because a model may run on several threads (a server's worker, a caller's `generate`): a
    shared buffer would be overwritten mid-matmul. It grows to the largest weight converted, at most
    `BUFFER_MAX_ELEMENTS`.
    """

    def __init__(self) -> None:
        self.tensors: dict[tuple[torch.dtype, torch.device], torch.Tensor] = {}

    def convert(self, qweight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """`qweight`'s values as `dtype` (exact: |int8| <= 127 fits bf16's and fp16's mantissa), valid until
        this thread's next `convert`."""
        n = qweight.numel()
        if n > BUFFER_MAX_ELEMENTS:
            return qweight.to(dtype)
        key = (dtype, qweight.device)
        flat = self.tensors.get(key)
        if flat is None or flat.numel() < n:
            with torch.inference_mode(False):  # made under inference_mode, it could not be written outside it
                flat = self.tensors[key] = torch.empty(n, dtype=dtype, device=qweight.device)
        return flat[:n].view(qweight.shape).copy_(qweight)


DEQUANT_BUFFER = DequantBuffer()  # one per process: its tensors are per thread


def quantize_rows(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(int8 weight, float32 scale per row) with `weight ~= int8 * scale[:, None]`, symmetric per row."""
    qweight = torch.empty(weight.shape, dtype=torch.int8, device=weight.device)
    scale = torch.empty(weight.shape[0], dtype=torch.float32, device=weight.device)
    chunk = max(1, QUANTIZE_CHUNK_ELEMENTS // max(weight.shape[1], 1))
    for start in range(0, weight.shape[0], chunk):
        rows = weight[start : start + chunk].float()
        step = rows.abs().amax(dim=1).clamp(min=torch.finfo(torch.float32).tiny) / QUANT_MAX
        qweight[start : start + len(rows)] = torch.round(rows / step[:, None]).clamp(-QUANT_MAX, QUANT_MAX)
        scale[start : start + len(rows)] = step
    return qweight, scale


class Int8Linear(nn.Module):
    """A Linear layer with an int8 weight and one scale per output channel (see the module docstring).

    Buffers: `qweight` (int8, out x in), `scale` (out, in the model's dtype), `bias` (or None).

    `wide_copy` (set by `quantize_model` on the output head): from the first bf16 CPU call with more than
    `KERNEL_NARROW_ROWS` rows (a decode batch of 5 or more), keep the int8 values as bf16 too and use bf16's
    matmul for such calls: the kernel costs twice as much at 8 rows as at 4, bf16's matmul about the same at
    1 to 16 (the 0.5B's head at 8 rows, one thread: 92-104 ms against 62). It costs the head's size in bf16
    (272 MB for a 151,936 x 896 head), so only the head, the largest layer, has it. The values are the same
    int8 ones, so the result equals the kernel's up to summation order.
    """

    def __init__(self, qweight: torch.Tensor, scale: torch.Tensor, bias: torch.Tensor | None,
                 wide_copy: bool = False) -> None:
        super().__init__()
        self.in_features, self.out_features = qweight.shape[1], qweight.shape[0]
        self.register_buffer("qweight", qweight)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", bias)
        self.wide_copy = wide_copy
        self._wide_weight: torch.Tensor | None = None  # made at the first wide call; not a buffer, not saved

    @classmethod
    def from_linear(cls, linear: nn.Linear, wide_copy: bool = False) -> Int8Linear:
        qweight, scale = quantize_rows(linear.weight.detach())
        bias = None if linear.bias is None else linear.bias.detach().clone()
        return cls(qweight, scale.to(linear.weight.dtype), bias, wide_copy=wide_copy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // max(x.shape[-1], 1)
        if self.wide_copy and x.dtype == torch.bfloat16 and x.device.type == "cpu" and rows > KERNEL_NARROW_ROWS:
            out = self._wide(x)
        elif self.uses_kernel(x.device, rows, x.dtype):
            out = self._kernel(x.reshape(rows, x.shape[-1])).reshape(*x.shape[:-1], self.out_features)
        else:
            out = self._dense(x)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def uses_kernel(self, device: torch.device, rows: int, dtype: torch.dtype = torch.float32) -> bool:
        """Whether `rows` activation rows of `dtype` on `device` go to the int8 CPU kernel (else: dequantize)."""
        limit = KERNEL_MAX_ROWS_BF16 if dtype == torch.bfloat16 else KERNEL_MAX_ROWS
        return (KERNEL_PRESENT and device.type == "cpu" and rows <= limit
                and self.in_features % KERNEL_IN_MULTIPLE == 0)

    def _dense(self, x: torch.Tensor) -> torch.Tensor:
        """The dense matmul over the int8 values (exact in bf16 and fp32), scaled after: rounds like the
        kernel does, so a prompt prefilled whole or in pieces (prefix reuse) sees nearly the same numbers."""
        scale = self.scale.to(x.dtype)
        weight = DEQUANT_BUFFER.convert(self.qweight, x.dtype)
        if x.dtype == torch.float16:  # unscaled sums could overflow float16's range: scale the weight first
            return nn.functional.linear(x, weight.mul_(scale[:, None]))
        return nn.functional.linear(x, weight) * scale

    def _wide(self, x: torch.Tensor) -> torch.Tensor:
        """bf16's matmul over a kept bf16 copy of the int8 values, scaled after (see `wide_copy`)."""
        if self._wide_weight is None or self._wide_weight.device != x.device:
            with torch.inference_mode(False):  # an ordinary tensor: usable in and outside inference_mode
                self._wide_weight = self.qweight.to(torch.bfloat16)
        return nn.functional.linear(x, self._wide_weight) * self.scale.to(x.dtype)

    def _kernel(self, x2d: torch.Tensor) -> torch.Tensor:
        """The int8-weight CPU kernel; float32 activations go through bf16 (its fast path)."""
        compute = torch.bfloat16 if x2d.dtype == torch.float32 else x2d.dtype
        scale = self.scale if self.scale.dtype == compute else self.scale.to(compute)
        out = torch.ops.aten._weight_int8pack_mm(x2d.to(compute).contiguous(), self.qweight, scale)
        return out.to(x2d.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 weight, per-row scale"


def quantize_model(model: Any, mode: str) -> int:
    """Replace `model`'s Linear layers by int8 ones in place ("int8"); returns how many were replaced.
    The original weights are freed layer by layer (except where another module shares them, as a tied
    output head shares the input embeddings), and the pages of a memory-mapped checkpoint they were read
    from are handed back to the kernel (qwen_agent.llm.local.file_pages). The output head gets
    `wide_copy` (see `Int8Linear`)."""
    if mode != "int8":
        raise ValueError(f"unknown quantization mode {mode!r}")
    # names only: a list of the modules themselves would keep every original weight alive until the end
    names = [name for name, m in model.named_modules() if type(m) is nn.Linear]
    pages = CheckpointPages()
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        linear = getattr(parent, child)
        setattr(parent, child, Int8Linear.from_linear(linear, wide_copy=linear is head))
        pages.release(linear.weight)  # its checkpoint pages, read once to quantize, leave the RSS now
    return len(names)
