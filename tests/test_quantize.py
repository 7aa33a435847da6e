"""Int8 Linear layers (qwen_agent.llm.local.quantize): values worked out by hand, and error bounds reasoned from the
quantization step (each weight is off by at most half its row's scale)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from qwen_agent.llm.local import quantize  # noqa: E402
from qwen_agent.llm.local.quantize import (  # noqa: E402
    KERNEL_IN_MULTIPLE,
    KERNEL_MAX_ROWS,
    KERNEL_MAX_ROWS_BF16,
    KERNEL_NARROW_ROWS,
    DequantBuffer,
    Int8Linear,
    quantize_model,
    quantize_rows,
)


def _linear(weight: list[list[float]], bias: list[float] | None = None, dtype=torch.float32,
            width: int = 0) -> torch.nn.Linear:
    """A Linear layer with these weights, their rows padded with zeros to `width` inputs."""
    w = torch.tensor(weight)
    w = torch.cat([w, torch.zeros(w.shape[0], max(width - w.shape[1], 0))], dim=1)
    layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(w)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias))
    return layer.to(dtype)


def test_rows_are_quantized_symmetrically_by_their_largest_value():
    qweight, scale = quantize_rows(torch.tensor([[63.5, -32.0, 0.5], [0.0, 0.0, 0.0], [-1.0, 0.2, 0.3]]))
    # row 0: 63.5 / 127 = 0.5 per step -> 127, -64, 1; row 2: 1 / 127 per step -> -127, 25.4 -> 25, 38.1 -> 38
    assert qweight.dtype == torch.int8
    assert qweight.tolist() == [[127, -64, 1], [0, 0, 0], [-127, 25, 38]]
    assert scale[0].item() == 0.5 and scale[1].item() > 0  # an all-zero row gets a tiny scale, not 0 / 0
    assert scale[2].item() == pytest.approx(1 / 127)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize(("rows", "width", "kernel"), [
    (1, KERNEL_IN_MULTIPLE, True), (KERNEL_MAX_ROWS + 1, KERNEL_IN_MULTIPLE, False), (1, 3, False)])
def test_representable_weights_give_the_exact_result(dtype, rows, width, kernel):
    # 0.5 * [127, -64, 1] and 0.25 * [127, 1, -4]: exact in int8 with scales 0.5 and 0.25
    weights = [[63.5, -32.0, 0.5], [31.75, 0.25, -1.0]]
    layer = Int8Linear.from_linear(_linear(weights, bias=[0.25, -2.0], dtype=dtype, width=width))
    assert layer.uses_kernel(torch.device("cpu"), rows, dtype) is kernel
    x = torch.tensor([[1.0, 2.0, 3.0] + [5.0] * (width - 3)] * rows, dtype=dtype)  # padding meets zero weights
    out = layer(x)
    # 63.5 - 64 + 1.5 + 0.25 = 1.25; 31.75 + 0.5 - 3 - 2 = 27.25 (both exact in bf16 too)
    assert out.dtype == dtype and out.shape == (rows, 2)
    assert out.float().tolist() == [[1.25, 27.25]] * rows


def test_error_stays_within_half_a_step_per_weight():
    """|y - y_int8| = |sum_k x_k (w_k - w8_k)| <= sum_k |x_k| * scale / 2, per output; float32 both ways."""
    torch.manual_seed(0)
    dense = torch.nn.Linear(512, 96, bias=False)
    layer = Int8Linear.from_linear(dense)
    x = torch.randn(KERNEL_MAX_ROWS + 8, 512)  # float32 and many rows: the dequantized path, no bf16 rounding
    error = (layer(x) - dense(x)).abs()
    bound = x.abs().sum(dim=1, keepdim=True) * layer.scale[None, :] / 2
    assert (error <= bound * (1 + 1e-4) + 1e-6).all()
    assert error.max() > 0  # random weights are not representable: the check compared something


@pytest.mark.parametrize("shape", [(1, 1, 256), (2, 3, 256), (1, KERNEL_MAX_ROWS_BF16, 256), (1, KERNEL_MAX_ROWS_BF16 + 1, 256)])
def test_bf16_paths_match_the_dequantized_reference(shape):
    """In bf16 the result may differ from the exact product of the int8 weights by the rounding of the scale
    to bf16 and of the output to bf16 (2^-9 relative each), so 2^-7 of the magnitude is a safe bound; a
    scale applied to the wrong axis or a transposed weight would be off by far more."""
    torch.manual_seed(1)
    layer = Int8Linear.from_linear(torch.nn.Linear(256, 80, bias=False).to(torch.bfloat16))
    x = torch.randn(*shape).to(torch.bfloat16)
    exact = x.double() @ (layer.qweight.double() * layer.scale.double()[:, None]).T
    magnitude = x.double().abs() @ (layer.qweight.double().abs() * layer.scale.double()[:, None]).T
    out = layer(x)
    assert out.dtype == torch.bfloat16 and out.shape == (*shape[:-1], 80)
    assert ((out.double() - exact).abs() <= magnitude * 2**-7 + 1e-6).all()


def test_quantize_model_replaces_each_linear_and_keeps_the_rest(tiny_qwen2_dir):
    transformers = pytest.importorskip("transformers")
    model = transformers.AutoModelForCausalLM.from_pretrained(tiny_qwen2_dir, dtype=torch.bfloat16)
    embeddings = model.get_input_embeddings().weight
    linears = sum(type(m) is torch.nn.Linear for m in model.modules())
    assert quantize_model(model, "int8") == linears == 2 * 7 + 1  # q, k, v, o, gate, up, down x 2 layers + head
    assert not [m for m in model.modules() if type(m) is torch.nn.Linear]
    head = model.get_output_embeddings()
    assert isinstance(head, Int8Linear) and head.qweight.dtype == torch.int8 and head.scale.dtype == torch.bfloat16
    assert head.wide_copy and not [m for m in model.modules() if isinstance(m, Int8Linear) and m.wide_copy
                                   and m is not head]  # only the head may keep a bf16 copy
    assert model.get_input_embeddings().weight is embeddings  # the (tied) embeddings stay as they were
    with pytest.raises(ValueError, match="int4"):
        quantize_model(model, "int4")


@pytest.mark.parametrize("rows", [1, KERNEL_NARROW_ROWS, KERNEL_NARROW_ROWS + 1, 8, KERNEL_MAX_ROWS + 1])
def test_a_wide_copy_layer_gives_the_exact_result_and_copies_only_for_wide_calls(rows):
    weights = [[63.5, -32.0, 0.5], [31.75, 0.25, -1.0]]  # as above: exact in int8 and in bf16
    layer = Int8Linear.from_linear(_linear(weights, bias=[0.25, -2.0], dtype=torch.bfloat16, width=KERNEL_IN_MULTIPLE),
                                   wide_copy=True)
    x = torch.tensor([[1.0, 2.0, 3.0] + [5.0] * (KERNEL_IN_MULTIPLE - 3)] * rows, dtype=torch.bfloat16)
    assert layer(x).float().tolist() == [[1.25, 27.25]] * rows
    if rows > KERNEL_NARROW_ROWS:  # the bf16 copy holds the int8 values themselves, not the scaled weights
        assert layer._wide_weight.dtype == torch.bfloat16
        assert layer._wide_weight[:, :3].tolist() == [[127.0, -64.0, 1.0], [127.0, 1.0, -4.0]]
    else:
        assert layer._wide_weight is None
    assert "_wide_weight" not in layer.state_dict()  # a copy, never saved


def test_a_layer_without_wide_copy_never_makes_one():
    layer = Int8Linear.from_linear(_linear([[1.0, 2.0]], dtype=torch.bfloat16, width=KERNEL_IN_MULTIPLE))
    layer(torch.ones(8, KERNEL_IN_MULTIPLE, dtype=torch.bfloat16))
    assert layer._wide_weight is None


def test_the_dequant_buffer_is_reused_per_thread_and_skipped_for_big_weights(monkeypatch):
    import threading

    buffer = DequantBuffer()
    big = torch.tensor([[100, -7, 3], [1, 2, -127]], dtype=torch.int8)
    small = torch.tensor([[5, -6]], dtype=torch.int8)
    first = buffer.convert(big, torch.bfloat16)
    assert first.tolist() == [[100.0, -7.0, 3.0], [1.0, 2.0, -127.0]] and first.dtype == torch.bfloat16
    second = buffer.convert(small, torch.bfloat16)
    assert second.tolist() == [[5.0, -6.0]] and second.data_ptr() == first.data_ptr()  # the same storage
    other = []
    thread = threading.Thread(target=lambda: other.append(buffer.convert(small, torch.bfloat16)))
    thread.start()
    thread.join()
    assert other[0].tolist() == [[5.0, -6.0]] and other[0].data_ptr() != first.data_ptr()  # its own buffer
    monkeypatch.setattr(quantize, "BUFFER_MAX_ELEMENTS", 4)
    alone = buffer.convert(big, torch.bfloat16)  # 6 elements > 4: a temporary, the kept buffer untouched
    assert alone.data_ptr() != first.data_ptr() and buffer.convert(small, torch.bfloat16).data_ptr() == first.data_ptr()


def test_bf16_activations_leave_the_kernel_at_fewer_rows_than_float32():
    layer = Int8Linear.from_linear(_linear([[1.0, 2.0]], width=KERNEL_IN_MULTIPLE))
    cpu = torch.device("cpu")
    assert KERNEL_MAX_ROWS_BF16 < KERNEL_MAX_ROWS
    assert layer.uses_kernel(cpu, KERNEL_MAX_ROWS_BF16, torch.bfloat16)
    assert not layer.uses_kernel(cpu, KERNEL_MAX_ROWS_BF16 + 1, torch.bfloat16)
    assert layer.uses_kernel(cpu, KERNEL_MAX_ROWS_BF16 + 1, torch.float32)  # float32 keeps the old crossover
    assert not layer.uses_kernel(cpu, KERNEL_MAX_ROWS + 1, torch.float32)


def test_the_dequant_buffer_made_under_inference_mode_is_written_outside_it():
    """A server decodes under inference_mode, a caller may then run the model under no_grad: the kept buffer
    (and the head's bf16 copy) must serve both."""
    buffer = DequantBuffer()
    q = torch.tensor([[3, -4]], dtype=torch.int8)
    with torch.inference_mode():
        buffer.convert(q, torch.bfloat16)
    with torch.no_grad():
        assert buffer.convert(-q, torch.bfloat16).tolist() == [[-3.0, 4.0]]
    layer = Int8Linear.from_linear(_linear([[1.0, 2.0]], dtype=torch.bfloat16, width=KERNEL_IN_MULTIPLE), wide_copy=True)
    x = torch.ones(8, KERNEL_IN_MULTIPLE, dtype=torch.bfloat16)
    with torch.inference_mode():
        layer(x)
    with torch.no_grad():
        assert layer(x).float().tolist() == [[3.0]] * 8
