"""How a local checkpoint is loaded: device, dtype, attention kernel, device map, quantization, GGUF files.

Every decision is a small pure function of explicit inputs (what the user asked for, what the machine can do),
so it is tested without a GPU. `probe_machine()` is the one place that asks torch what the machine can do.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_agent.errors import ConfigurationError, MissingDependencyError

DTYPE_ALIASES: dict[str, str] = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "half": "float16",
    "fp32": "float32",
    "float32": "float32",
    "float": "float32",
}
ATTN_IMPLEMENTATIONS = ("flash_attention_2", "sdpa", "eager")
# transformers' GPTQ loader needs both of these.
GPTQ_PACKAGES = ("optimum", "gptqmodel")
QUANTIZE_MODES = ("int8",)
# CPU features with native bfloat16 arithmetic (x86 flag names as /proc/cpuinfo spells them): AVX512-BF16
# (Cooper Lake, Zen 4 and later) and AMX (Sapphire Rapids and later). Without them bf16 is emulated and slower.
CPU_BF16_FEATURES = ("amx_bf16", "avx512_bf16")


@dataclass(frozen=True)
class Machine:
    """What the machine offers, as far as loading a model is concerned."""

    cuda_devices: int = 0
    bf16_supported: bool = False
    #: (major, minor) CUDA compute capability of the first GPU, e.g. (9, 0) for an H100/H200
    compute_capability: tuple[int, int] | None = None
    flash_attn_installed: bool = False
    mps_available: bool = False
    #: the CPU feature that computes bfloat16 natively ("avx512_bf16", "amx_bf16"), None when there is none
    cpu_bf16: str | None = None


def probe_machine() -> Machine:
    """Ask torch (and the import system) what this machine offers."""
    import torch

    cuda = torch.cuda.device_count() if torch.cuda.is_available() else 0
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return Machine(
        cuda_devices=cuda,
        bf16_supported=bool(cuda and torch.cuda.is_bf16_supported()),
        compute_capability=torch.cuda.get_device_capability(0) if cuda else None,
        flash_attn_installed=package_installed("flash_attn"),
        mps_available=mps,
        cpu_bf16=cpu_bf16_feature(_cpu_flags(), torch.backends.cpu.get_cpu_capability()),
    )


def _cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux lists them (empty elsewhere)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.partition(":")[2].split())


def cpu_bf16_feature(flags: set[str], torch_capability: str = "") -> str | None:
    """The native bfloat16 feature among the CPU's `flags`, or torch's own view of the CPU
    (`torch.backends.cpu.get_cpu_capability()`, e.g. "AVX512", "AMX" ...) when flags are unknown."""
    for feature in CPU_BF16_FEATURES:
        if feature in flags:
            return feature
    capability = torch_capability.upper()
    return "amx_bf16" if "AMX" in capability else "avx512_bf16" if "BF16" in capability else None


def package_installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def choose_device(requested: str | None, machine: Machine) -> str:
    """The device to run on: what was asked for, else the first GPU, else Apple's MPS, else the CPU."""
    if requested:
        if requested.startswith("cuda") and machine.cuda_devices == 0:
            raise ConfigurationError(f"device={requested!r} was requested but CUDA is not available")
        return requested
    if machine.cuda_devices:
        return "cuda"
    return "mps" if machine.mps_available else "cpu"


def choose_dtype(requested: Any, device: str, machine: Machine, *, gptq: bool = False) -> str:
    """A dtype name: bf16 on GPUs that have it, fp16 on other GPUs (and for GPTQ kernels); on the CPU bf16
    where it computes bf16 natively (1.6x fp32's decode speed and 3x its prefill on the real 0.5B model, measured), fp32 elsewhere.

    `requested` may be None or "auto" (choose), a name or alias ("bf16", "float16", ...), or a torch.dtype.
    """
    if requested is not None and requested != "auto":
        name = str(requested).removeprefix("torch.")
        if name not in DTYPE_ALIASES:
            raise ConfigurationError(f"unknown dtype {requested!r}; use one of {sorted(set(DTYPE_ALIASES))}")
        return DTYPE_ALIASES[name]
    if device.startswith("cuda"):
        return "bfloat16" if machine.bf16_supported and not gptq else "float16"
    if device.startswith("mps"):
        return "float16"
    return "bfloat16" if machine.cpu_bf16 else "float32"


def explain_dtype(requested: Any, device: str, machine: Machine, *, gptq: bool = False) -> str:
    """Why `choose_dtype` chose what it did, for the log."""
    dtype = choose_dtype(requested, device, machine, gptq=gptq)
    if requested is not None and requested != "auto":
        return f"{dtype} (requested)"
    if device.startswith("cuda"):
        why = "GPTQ kernels want float16" if gptq else "the GPU " + ("has" if machine.bf16_supported else "lacks") + " bf16"
    elif device.startswith("mps"):
        why = "Apple GPU"
    elif machine.cpu_bf16:
        why = f"the CPU computes bfloat16 natively ({machine.cpu_bf16})"
    else:
        why = "the CPU has no native bfloat16 (no AVX512-BF16 or AMX), so bfloat16 would be emulated and slower"
    return f"{dtype} ({why})"


def flash_attention_usable(device: str, dtype: str, machine: Machine) -> bool:
    """FlashAttention-2 runs on CUDA GPUs of compute capability 8.0+ (Ampere and later), in fp16 or bf16."""
    return (
        machine.flash_attn_installed
        and device.startswith("cuda")
        and dtype in ("float16", "bfloat16")
        and machine.compute_capability is not None
        and machine.compute_capability >= (8, 0)
    )


def choose_attn_implementation(requested: str | None, device: str, dtype: str, machine: Machine) -> str:
    """FlashAttention-2 when installed and usable, else PyTorch's SDPA; an explicit request is checked."""
    if requested is None or requested == "auto":
        return "flash_attention_2" if flash_attention_usable(device, dtype, machine) else "sdpa"
    if requested not in ATTN_IMPLEMENTATIONS:
        raise ConfigurationError(f"unknown attn_implementation {requested!r}; use one of {ATTN_IMPLEMENTATIONS}")
    if requested == "flash_attention_2":
        if not machine.flash_attn_installed:
            raise MissingDependencyError("flash-attn", "gpu", "attn_implementation='flash_attention_2'")
        if not flash_attention_usable(device, dtype, machine):
            raise ConfigurationError(
                "FlashAttention-2 needs a CUDA GPU of compute capability 8.0+ and dtype float16 or bfloat16 "
                f"(device={device!r}, dtype={dtype!r}); use attn_implementation='sdpa'"
            )
    return requested


def choose_device_map(device: str, machine: Machine) -> str | dict[str, str] | None:
    """`device_map` for from_pretrained: spread over every GPU when on plain "cuda" with several, load
    straight onto the one device otherwise, and none on the CPU (the model is moved after loading)."""
    if not device.startswith("cuda"):
        return None
    if device == "cuda" and machine.cuda_devices > 1:
        return "auto"
    return {"": "cuda:0" if device == "cuda" else device}


def quantization_method(config: Mapping[str, Any] | None) -> str | None:
    """The `quant_method` of a checkpoint's `quantization_config` ("gptq", "awq", ...), or None."""
    quant = (config or {}).get("quantization_config")
    if quant is None:
        return None
    method = quant.get("quant_method") if isinstance(quant, Mapping) else getattr(quant, "quant_method", None)
    return str(getattr(method, "value", method)).lower() if method is not None else None


def require_gptq(installed: Callable[[str], bool] = package_installed) -> None:
    """Raise MissingDependencyError naming the GPTQ packages that are not installed."""
    missing = [p for p in GPTQ_PACKAGES if not installed(p)]
    if missing:
        raise MissingDependencyError(" and ".join(missing), "gptq", "Loading a GPTQ-quantized checkpoint")


def check_quantize(quantize: str | None, *, gptq: bool) -> None:
    """Reject an unknown `quantize` mode, or one on an already-quantized checkpoint."""
    if quantize is None:
        return
    if quantize not in (*QUANTIZE_MODES, "auto"):
        raise ConfigurationError(f"unknown quantize={quantize!r}; use one of {QUANTIZE_MODES}, 'auto' or None")
    if gptq and quantize != "auto":
        raise ConfigurationError("this checkpoint is GPTQ-quantized already; load it without quantize=")


def choose_quantize(requested: str | None, device: str, machine: Machine, *, gptq: bool,
                    kernel: bool) -> tuple[str | None, str]:
    """(mode, why) for `quantize`: "auto" is int8 on a CPU that computes bf16 natively when torch has its
    int8-weight kernel (`kernel`): decoding is memory-bound there, and int8 weights decoded 4.8x float32 and 2.4x
    bf16 on the real 0.5B model, losing one of 25 tool-use tasks (docs/local-backend.md); elsewhere none."""
    if requested != "auto":
        return requested, "requested" if requested else "not requested"
    if gptq:
        return None, "the checkpoint is GPTQ-quantized already"
    if device != "cpu":
        return None, "int8 by default only on the CPU"
    if not machine.cpu_bf16 or not kernel:
        lacks = "native bfloat16" if not machine.cpu_bf16 else "torch's int8-weight kernel (torch >= 2.3)"
        return None, f"the CPU path lacks {lacks}"
    return "int8", f"the CPU computes bfloat16 natively ({machine.cpu_bf16}) and torch has its int8-weight kernel"


def gguf_source(model: str) -> tuple[str, str | None]:
    """(folder, file name) for a `.gguf` file, which transformers loads as `from_pretrained(folder,
    gguf_file=name)` (dequantized); (model, None) for anything else."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf" and path.is_file():
        return str(path.parent), path.name
    return model, None


def check_checkpoint_path(model: str) -> Path | None:
    """The local folder (or `.gguf` file) of `model`, None for a hub name ("org/name"), or ConfigurationError for a path that
    does not exist (so a typo in a path never turns into a hub download attempt)."""
    path = Path(model).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ConfigurationError(f"GGUF file not found: {model!r}")
        return path
    if path.exists():
        if not path.is_dir():
            raise ConfigurationError(f"model path {model!r} is a file; pass the checkpoint folder or a .gguf file")
        if not (path / "config.json").is_file():
            raise ConfigurationError(f"{model!r} is not a transformers checkpoint folder (no config.json)")
        return path
    looks_like_path = path.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1 or "\\" in model
    if looks_like_path:
        raise ConfigurationError(f"checkpoint folder not found: {model!r}")
    return None
