"""Device, dtype, attention and GPTQ selection, with made-up machines (no GPU needed)."""

from __future__ import annotations

import pytest

from qwen_agent.errors import ConfigurationError, MissingDependencyError
from qwen_agent.llm.local.local_setup import (
    Machine,
    check_checkpoint_path,
    choose_attn_implementation,
    choose_device,
    choose_device_map,
    choose_dtype,
    cpu_bf16_feature,
    explain_dtype,
    gguf_source,
    quantization_method,
    require_gptq,
)

CPU = Machine()
CPU_AVX512_BF16 = Machine(cpu_bf16="avx512_bf16")
H200 = Machine(cuda_devices=1, bf16_supported=True, compute_capability=(9, 0), flash_attn_installed=True)
H200_NO_FA = Machine(cuda_devices=1, bf16_supported=True, compute_capability=(9, 0))
T4 = Machine(cuda_devices=1, bf16_supported=False, compute_capability=(7, 5), flash_attn_installed=True)
FOUR_A100 = Machine(cuda_devices=4, bf16_supported=True, compute_capability=(8, 0), flash_attn_installed=True)
MAC = Machine(mps_available=True)


@pytest.mark.parametrize(
    ("requested", "machine", "expected"),
    [(None, CPU, "cpu"), (None, H200, "cuda"), (None, MAC, "mps"), ("cpu", H200, "cpu"), ("cuda:1", FOUR_A100, "cuda:1")],
)
def test_choose_device(requested, machine, expected):
    assert choose_device(requested, machine) == expected


def test_cuda_requested_without_cuda():
    with pytest.raises(ConfigurationError, match="CUDA is not available"):
        choose_device("cuda", CPU)


@pytest.mark.parametrize(
    ("requested", "device", "machine", "gptq", "expected"),
    [
        (None, "cuda", H200, False, "bfloat16"),
        (None, "cuda", T4, False, "float16"),  # Turing has no bf16
        (None, "cuda", H200, True, "float16"),  # GPTQ kernels want fp16
        (None, "cpu", CPU, False, "float32"),
        ("auto", "cpu", CPU, False, "float32"),
        (None, "mps", MAC, False, "float16"),
        ("bf16", "cpu", CPU, False, "bfloat16"),
        ("torch.float16", "cuda", H200, False, "float16"),
        ("fp32", "cuda", H200, False, "float32"),
    ],
)
def test_choose_dtype(requested, device, machine, gptq, expected):
    assert choose_dtype(requested, device, machine, gptq=gptq) == expected


def test_choose_dtype_accepts_torch_dtypes():
    torch = pytest.importorskip("torch")
    assert choose_dtype(torch.bfloat16, "cpu", CPU) == "bfloat16"


def test_unknown_dtype():
    with pytest.raises(ConfigurationError, match="unknown dtype 'int3'"):
        choose_dtype("int3", "cpu", CPU)


@pytest.mark.parametrize(
    ("device", "dtype", "machine", "expected"),
    [
        ("cuda", "bfloat16", H200, "flash_attention_2"),
        ("cuda", "bfloat16", H200_NO_FA, "sdpa"),  # not installed
        ("cuda", "float16", T4, "sdpa"),  # installed but compute capability 7.5
        ("cuda", "float32", H200, "sdpa"),  # FA2 has no fp32 kernels
        ("cpu", "float32", CPU, "sdpa"),
    ],
)
def test_choose_attn_implementation_auto(device, dtype, machine, expected):
    assert choose_attn_implementation(None, device, dtype, machine) == expected


def test_explicit_attn_requests_are_checked():
    assert choose_attn_implementation("eager", "cuda", "bfloat16", H200) == "eager"
    with pytest.raises(MissingDependencyError, match="flash-attn") as info:
        choose_attn_implementation("flash_attention_2", "cuda", "bfloat16", H200_NO_FA)
    assert info.value.extra == "gpu"
    with pytest.raises(ConfigurationError, match="compute capability 8.0"):
        choose_attn_implementation("flash_attention_2", "cuda", "float16", T4)
    with pytest.raises(ConfigurationError, match="unknown attn_implementation"):
        choose_attn_implementation("flash3", "cuda", "bfloat16", H200)


@pytest.mark.parametrize(
    ("device", "machine", "expected"),
    [
        ("cpu", CPU, None),
        ("cuda", H200, {"": "cuda:0"}),
        ("cuda", FOUR_A100, "auto"),
        ("cuda:2", FOUR_A100, {"": "cuda:2"}),
        ("mps", MAC, None),
    ],
)
def test_choose_device_map(device, machine, expected):
    assert choose_device_map(device, machine) == expected


def test_quantization_method():
    gptq = {"quantization_config": {"quant_method": "gptq", "bits": 4, "group_size": 128}}
    assert quantization_method(gptq) == "gptq"
    assert quantization_method({"quantization_config": {"quant_method": "AWQ"}}) == "awq"
    assert quantization_method({"model_type": "qwen2"}) is None
    assert quantization_method(None) is None


def test_require_gptq_names_the_missing_packages():
    with pytest.raises(MissingDependencyError, match="gptqmodel") as info:
        require_gptq(installed=lambda name: name == "optimum")
    assert info.value.extra == "gptq"
    assert "optimum" not in info.value.package
    with pytest.raises(MissingDependencyError, match="optimum and gptqmodel"):
        require_gptq(installed=lambda name: False)
    require_gptq(installed=lambda name: True)  # both present: no error


def test_check_checkpoint_path(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert check_checkpoint_path(str(tmp_path)) == tmp_path
    assert check_checkpoint_path("Qwen/Qwen2.5-7B-Instruct") is None  # a hub name
    with pytest.raises(ConfigurationError, match="checkpoint folder not found"):
        check_checkpoint_path(str(tmp_path / "nope"))
    with pytest.raises(ConfigurationError, match="checkpoint folder not found"):
        check_checkpoint_path("./models/qwen")
    with pytest.raises(ConfigurationError, match="no config.json"):
        check_checkpoint_path(str(tmp_path.parent))
    with pytest.raises(ConfigurationError, match="is a file"):
        check_checkpoint_path(str(tmp_path / "config.json"))


@pytest.mark.parametrize(
    ("machine", "expected", "why"),
    [
        (CPU, "float32", "no native bfloat16 (no AVX512-BF16 or AMX)"),
        (CPU_AVX512_BF16, "bfloat16", "computes bfloat16 natively (avx512_bf16)"),
        (Machine(cpu_bf16="amx_bf16"), "bfloat16", "natively (amx_bf16)"),
    ],
)
def test_cpu_dtype_follows_native_bf16(machine, expected, why):
    assert choose_dtype(None, "cpu", machine) == expected
    assert explain_dtype(None, "cpu", machine).startswith(f"{expected} (the CPU ")
    assert why in explain_dtype("auto", "cpu", machine)


def test_explicit_dtype_is_kept_and_said_so():
    assert choose_dtype("fp32", "cpu", CPU_AVX512_BF16) == "float32"
    assert explain_dtype("fp32", "cpu", CPU_AVX512_BF16) == "float32 (requested)"
    assert explain_dtype(None, "cuda", H200) == "bfloat16 (the GPU has bf16)"
    assert explain_dtype(None, "cuda", H200, gptq=True) == "float16 (GPTQ kernels want float16)"


@pytest.mark.parametrize(
    ("flags", "capability", "expected"),
    [
        ({"avx512f", "avx512_bf16", "avx512_vnni"}, "AVX512", "avx512_bf16"),  # this project's CI machine
        ({"avx512f", "amx_tile", "amx_bf16", "avx512_bf16"}, "AVX512", "amx_bf16"),  # Sapphire Rapids
        ({"avx2", "fma"}, "AVX2", None),
        ({"avx512f", "avx512_vnni"}, "AVX512", None),  # Cascade Lake: AVX512 without BF16
        (set(), "AMX", "amx_bf16"),  # no /proc/cpuinfo: torch's view decides
        (set(), "DEFAULT", None),
    ],
)
def test_cpu_bf16_feature(flags, capability, expected):
    assert cpu_bf16_feature(flags, capability) == expected


def test_probe_reads_this_machines_cpu():
    pytest.importorskip("torch")
    from pathlib import Path

    from qwen_agent.llm.local.local_setup import probe_machine

    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    has = "avx512_bf16" in flags or "amx_bf16" in flags
    assert (probe_machine().cpu_bf16 is not None) == has


def test_check_quantize():
    from qwen_agent.llm.local.local_setup import check_quantize

    check_quantize(None, gptq=True)
    check_quantize("int8", gptq=False)
    with pytest.raises(ConfigurationError, match="unknown quantize='int4'"):
        check_quantize("int4", gptq=False)
    with pytest.raises(ConfigurationError, match="GPTQ-quantized already"):
        check_quantize("int8", gptq=True)


def test_gguf_paths(tmp_path):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert check_checkpoint_path(str(gguf)) == gguf
    assert gguf_source(str(gguf)) == (str(tmp_path), "m.gguf")
    assert gguf_source(str(tmp_path)) == (str(tmp_path), None)
    with pytest.raises(ConfigurationError, match="GGUF file not found"):
        check_checkpoint_path(str(tmp_path / "missing.gguf"))
    with pytest.raises(ConfigurationError, match="GGUF file not found"):
        check_checkpoint_path("x.gguf")  # never taken for a hub name


def test_quantize_auto_is_int8_only_on_a_cpu_with_native_bf16_and_the_kernel():
    from qwen_agent.llm.local.local_setup import choose_quantize

    assert choose_quantize("auto", "cpu", CPU_AVX512_BF16, gptq=False, kernel=True)[0] == "int8"
    assert choose_quantize("auto", "cpu", CPU_AVX512_BF16, gptq=False, kernel=False) == (
        None, "the CPU path lacks torch's int8-weight kernel (torch >= 2.3)")
    assert choose_quantize("auto", "cpu", CPU, gptq=False, kernel=True) == (
        None, "the CPU path lacks native bfloat16")
    assert choose_quantize("auto", "cuda", H200, gptq=False, kernel=True)[0] is None
    assert choose_quantize("auto", "cpu", CPU_AVX512_BF16, gptq=True, kernel=True)[0] is None
    assert choose_quantize("int8", "cuda", H200, gptq=False, kernel=True) == ("int8", "requested")
    assert choose_quantize(None, "cpu", CPU_AVX512_BF16, gptq=False, kernel=True) == (None, "not requested")


def test_quantize_flag_for_each_backend():
    from qwen_agent.settings import quantize_for

    assert quantize_for("transformers", "auto") == "auto"
    assert quantize_for("transformers", "none") is None
    assert quantize_for("transformers", "int8") == "int8"
    assert quantize_for("openai", "auto") is None and quantize_for("scripted", None) is None
    with pytest.raises(ConfigurationError, match="--quantize int8 applies to --backend transformers, not openai"):
        quantize_for("openai", "int8")
