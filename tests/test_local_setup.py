"""Device, dtype, attention and GPTQ selection, with made-up machines (no GPU needed)."""

from __future__ import annotations

import pytest

from qwen_agent.errors import ConfigurationError, MissingDependencyError
from qwen_agent.llm.local_setup import (
    Machine,
    check_checkpoint_path,
    choose_attn_implementation,
    choose_device,
    choose_device_map,
    choose_dtype,
    quantization_method,
    require_gptq,
)

CPU = Machine()
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
