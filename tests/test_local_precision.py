"""The transformers backend in bf16 and int8, from a GGUF file, without deprecated transformers arguments.

Mechanics on tiny random Qwen2 checkpoints (one with Qwen's vocabulary, one written as a GGUF file with a small
byte-level vocabulary so its metadata reads fast); behaviour on the real small Qwen under `real_model`.
"""

from __future__ import annotations

import logging
import shutil
import warnings

import pytest

from qwen_agent.errors import ConfigurationError, MissingDependencyError
from qwen_agent.llm import get_llm
from qwen_agent.schema import GenerationConfig, Message

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qwen_agent.llm.local.transformers import TransformersLLM  # noqa: E402

PROMPT = "Question: What is 21 * 2?\nThought: I should use the calculator.\nAction:"
GREEDY = GenerationConfig(max_tokens=16)


def _episode(llm: TransformersLLM, steps: int = 3) -> list[tuple[str, int]]:
    """A ReAct-like run: each prompt extends the last one; returns (text, cached tokens) per step."""
    prompt, seen = PROMPT, []
    for i in range(steps):
        out = llm.generate(prompt)
        seen.append((out.text, out.usage.cached_tokens))
        prompt += f"{out.text}\nObservation: {i * 7}\nThought:"
    return seen


@pytest.mark.parametrize("setting", [{"dtype": "bfloat16"}, {"dtype": "float32", "quantize": "int8"}])
def test_prefix_reuse_is_exact_in_bf16_and_int8(tiny_qwen2_dir, setting):
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, **setting) as reusing, \
         TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, reuse_prefix=False, **setting) as fresh:  # fmt: skip
        with_reuse, without = _episode(reusing), _episode(fresh)
    assert [t for t, _ in with_reuse] == [t for t, _ in without]
    assert [c for _, c in without] == [0, 0, 0]
    assert with_reuse[0][1] == 0 and all(c > len(PROMPT) // 8 for _, c in with_reuse[1:])


def _last_logits(llm: TransformersLLM, ids, split: int | None = None):
    """The last position's logits of `ids`, prefilled whole, or as `ids[:split]` then the rest over its cache."""
    from transformers import DynamicCache

    field, cache = llm._cache_field, DynamicCache()
    with torch.no_grad():
        if split is not None:
            llm.model(ids[:, :split], **{field: cache}, use_cache=True)
        return llm.model(ids[:, split or 0 :], **{field: cache}, use_cache=True).logits[0, -1].float()


def test_prefix_reuse_in_int8_over_bf16_stays_within_bf16_precision(tiny_qwen2_dir):
    """Int8 over bf16 prefills a whole prompt with the dense matmul but a short new suffix with the int8 kernel
    (see qwen_agent.llm.local.quantize), so reuse is not bit-exact there (on random weights greedy text can then
    drift). What reuse adds must stay below what bf16 itself costs against float32."""
    ids = None
    with TransformersLLM(str(tiny_qwen2_dir), dtype="bfloat16", quantize="int8", config=GREEDY) as llm:
        steps = _episode(llm)
        assert steps[0][1] == 0 and all(c > len(PROMPT) // 8 for _, c in steps[1:])  # reuse happened
        ids = torch.tensor([llm.codec.encode(PROMPT + " 42\nObservation: 42\nThought: done")])
        whole, pieces = _last_logits(llm, ids), _last_logits(llm, ids, split=-6)
    with TransformersLLM(str(tiny_qwen2_dir), dtype="bfloat16") as bf16, \
         TransformersLLM(str(tiny_qwen2_dir), dtype="float32") as fp32:  # fmt: skip
        bf16_error = (_last_logits(bf16, ids) - _last_logits(fp32, ids)).abs().max()
    assert (whole - pieces).abs().max() < bf16_error
    assert whole.argmax() == pieces.argmax()


def test_int8_quantizes_every_linear_layer_and_logs_it(tiny_qwen2_dir, caplog):
    from qwen_agent.llm.local.quantize import Int8Linear

    with caplog.at_level(logging.INFO, logger="qwen_agent.llm.local.transformers"):
        llm = TransformersLLM(str(tiny_qwen2_dir), dtype="bfloat16", quantize="int8", config=GREEDY)
    with llm:
        assert not [m for m in llm.model.modules() if isinstance(m, torch.nn.Linear)]
        int8 = [m for m in llm.model.modules() if isinstance(m, Int8Linear)]
        assert len(int8) == 2 * 7 + 1  # q, k, v, o, gate, up, down per layer, and the head
        assert llm.output_device == torch.device("cpu")  # read from the int8 head's buffers
        assert llm.quantize == "int8" and llm.generate(PROMPT).usage.completion_tokens > 0
    assert f"loaded {tiny_qwen2_dir} on cpu (bfloat16, attention: sdpa_cpu_decode, int8 weights)" in caplog.messages


def test_an_unknown_quantize_mode_is_refused(tiny_qwen2_dir):
    with pytest.raises(ConfigurationError, match="unknown quantize='int4'"):
        TransformersLLM(str(tiny_qwen2_dir), quantize="int4")


@pytest.mark.filterwarnings("error::FutureWarning")
def test_no_deprecated_cache_argument(tiny_qwen2_dir, caplog):
    """transformers 5.x warns (FutureWarning) when `past_key_values` is passed, and logs when the output's
    `past_key_values` is read; single, reused, streamed and batched generation do neither."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*past_key_values.*")
        with caplog.at_level(logging.WARNING), TransformersLLM(str(tiny_qwen2_dir), dtype="float32") as llm:
            llm.generate(PROMPT, config=GREEDY)
            llm.generate(PROMPT + " x", config=GREEDY)  # reuses the cache
            "".join(c.text for c in llm.stream(PROMPT, config=GREEDY))
            llm.generate_batch([PROMPT, "1 + 1 ="], config=GREEDY)
    assert not [r for r in caplog.records if "past_key_values" in r.getMessage()]


# --- GGUF ---------------------------------------------------------------------------------------------------
def test_gguf_loads_with_its_tokenizer_and_template(tiny_qwen2_gguf, tiny_gguf_source):
    """A GGUF file generates exactly what the checkpoint it was written from generates."""
    with get_llm("transformers", model=str(tiny_qwen2_gguf), dtype="float32", config=GREEDY) as from_gguf, \
         get_llm("transformers", model=str(tiny_gguf_source), dtype="float32", config=GREEDY) as original:  # fmt: skip
        assert from_gguf.model_name == str(tiny_qwen2_gguf)
        for prompt in ("the weather in paris is", [Message.user("hi there")]):
            assert from_gguf.codec.encode(prompt) == original.codec.encode(prompt)
            assert from_gguf.generate(prompt).text == original.generate(prompt).text
        assert "<|im_start|>" in from_gguf.codec.tokenizer.chat_template


def test_gguf_loads_straight_into_bf16_and_int8(tiny_qwen2_gguf):
    with get_llm("transformers", model=str(tiny_qwen2_gguf), dtype="bfloat16", config=GREEDY) as llm:
        assert {p.dtype for p in llm.model.parameters()} == {torch.bfloat16}
        assert llm.generate("the weather").usage.completion_tokens > 0
    with get_llm("transformers", model=str(tiny_qwen2_gguf), quantize="int8", config=GREEDY) as llm:
        assert type(llm.model.lm_head).__name__ == "Int8Linear"
        assert llm.generate("the weather").usage.completion_tokens > 0


def test_gguf_conversion_is_cached(tiny_qwen2_gguf, tmp_path, caplog):
    gguf = tmp_path / "model.gguf"
    shutil.copy(tiny_qwen2_gguf, gguf)
    cache = tmp_path / "converted"
    with caplog.at_level(logging.INFO, logger="qwen_agent.llm.local.gguf"):
        with get_llm("transformers", model=str(gguf), dtype="float32", gguf_cache_dir=cache, config=GREEDY) as a:
            first = a.generate("the weather").text
        with get_llm("transformers", model=str(gguf), dtype="float32", gguf_cache_dir=cache, config=GREEDY) as b:
            assert b.generate("the weather").text == first
            assert b.model_name == str(gguf)
    assert sum("converting" in m for m in caplog.messages) == 1  # the second load read the cached copy
    (folder,) = cache.iterdir()
    assert folder.name.endswith("-float32") and (folder / "model.safetensors").is_file()
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no temporary folder left behind


def test_gguf_without_the_gguf_package(tiny_qwen2_gguf, monkeypatch):
    import qwen_agent.llm.local.gguf as gguf_module

    monkeypatch.setattr(gguf_module, "package_installed", lambda name: name != "gguf")
    with pytest.raises(MissingDependencyError, match=r"'gguf'.*qwen_agent\[local\]") as info:
        get_llm("transformers", model=str(tiny_qwen2_gguf))
    assert info.value.package == "gguf"


def test_a_broken_gguf_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ConfigurationError, match="broken.gguf"):
        get_llm("transformers", model=str(bad))


# --- the command line ---------------------------------------------------------------------------------------
@pytest.mark.slow  # an agent step of up to 1024 int8 tokens: minutes on a busy 2-core CPU
def test_cli_quantize_and_the_loaded_line(tiny_qwen2_dir, capsys):
    from qwen_agent.cli import main

    code = main(["run", "--backend", "transformers", "--model", str(tiny_qwen2_dir), "--quantize", "int8",
                 "--max-steps", "1", "What is 21 * 2?"])  # fmt: skip
    err = capsys.readouterr().err
    assert code in (0, 3)  # random weights rarely finish in one step; the load is what is checked
    assert f"[qwen-agent] loaded {tiny_qwen2_dir} on cpu (" in err and ", int8 weights)" in err
    assert "[qwen-agent] dtype " in err


def test_cli_quantize_needs_the_transformers_backend(capsys):
    from qwen_agent.cli import main

    assert main(["run", "--backend", "openai", "--quantize", "int8", "hi"]) == 1
    assert "--quantize int8 applies to --backend transformers, not openai" in capsys.readouterr().err
    # the default ("auto") means nothing for a server backend: no error


def test_serve_passes_quantize(tiny_qwen2_dir):
    from qwen_agent.cli import build_parser
    from qwen_agent.llm_options import llm_from_args

    parser = build_parser()
    with llm_from_args(parser.parse_args(["serve", "--model", str(tiny_qwen2_dir), "--quantize", "int8"])) as llm:
        assert llm.quantize == "int8"
    with pytest.raises(ConfigurationError, match="--quantize int8 applies to --backend transformers"):
        llm_from_args(parser.parse_args(["serve", "--backend", "openai", "--model", "m", "--quantize", "int8"]))
