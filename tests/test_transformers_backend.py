"""TransformersLLM on a tiny random Qwen2 checkpoint (real weights file, real tokenizer files), on the CPU."""

from __future__ import annotations

import json
import logging
import shutil

import pytest

from qwen_agent.errors import ConfigurationError, ContextLengthError, MissingDependencyError, ModelError
from qwen_agent.llm import get_llm
from qwen_agent.llm.local.decoding import common_prefix_len
from qwen_agent.llm.local.local_setup import package_installed
from qwen_agent.schema import GenerationConfig, Message

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from qwen_agent.llm.local.transformers import TransformersLLM  # noqa: E402

PROMPT = "Question: What is 21 * 2?\nThought: I should use the calculator.\nAction:"
N = 24
GREEDY = GenerationConfig(max_tokens=N)


@pytest.fixture(scope="module")
def llm(tiny_qwen2_dir):
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, dtype="float32") as model:
        yield model


@pytest.fixture(scope="module")
def fresh(tiny_qwen2_dir):
    """The same checkpoint with prefix reuse off: every call prefills its whole prompt."""
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, reuse_prefix=False, dtype="float32") as model:
        yield model


@pytest.fixture(scope="module")
def free_text(fresh):
    """What the model writes for PROMPT with no stop strings, and its token ids."""
    result = fresh.generate(PROMPT)
    assert result.finish_reason == "length" and result.usage.completion_tokens == N
    ids = fresh.codec.encode(PROMPT + result.text)[len(fresh.codec.encode(PROMPT)) :]
    return result.text, ids


def test_loads_like_a_user_does(llm, tiny_qwen2_dir, caplog):
    from qwen_agent.llm.local.local_setup import probe_machine

    assert (llm.device, llm.dtype, llm.attn_implementation) == ("cpu", "float32", "sdpa_cpu_decode")
    assert llm.model_name == str(tiny_qwen2_dir)
    with caplog.at_level(logging.INFO, logger="qwen_agent.llm.local.transformers"):
        default = TransformersLLM(str(tiny_qwen2_dir))
        default.close()
    native = probe_machine().cpu_bf16 is not None
    assert default.dtype == ("bfloat16" if native else "float32")
    assert f"loaded {tiny_qwen2_dir} on cpu ({default.dtype}, attention: sdpa_cpu_decode)" in caplog.messages
    why = "the CPU computes bfloat16 natively" if native else "the CPU has no native bfloat16"
    assert any(m.startswith(f"dtype {default.dtype} ({why}") for m in caplog.messages)


def test_get_llm_builds_the_backend(tiny_qwen2_dir):
    with get_llm("transformers", model=str(tiny_qwen2_dir), dtype="bf16") as model:
        assert isinstance(model, TransformersLLM) and model.dtype == "bfloat16"
        assert next(model.model.parameters()).dtype == torch.bfloat16


def test_greedy_decoding_matches_transformers_generate(fresh, free_text):
    text, _ = free_text
    tok = fresh.codec.tokenizer
    ids = torch.tensor([tok(PROMPT)["input_ids"]])
    out = fresh.model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=N, do_sample=False)
    assert tok.decode(out[0, ids.shape[1] :]) == text


def test_stop_string_inside_a_token_run_stops_generation(fresh, free_text):
    text, ids = free_text
    k = N // 2
    before, upto = fresh.codec.decode(ids[:k]), fresh.codec.decode(ids[: k + 1])
    assert len(upto) - len(before) >= 2, "pick a token with at least two characters"
    stop = before[-2:] + upto[len(before) : len(before) + 2]  # straddles the boundary of tokens k-1 and k
    result = fresh.generate(PROMPT, stop=[stop, "never appears \x00"])
    assert result.text == text[: text.index(stop)]
    assert (result.finish_reason, result.stop_string) == ("stop", stop)
    assert result.usage.completion_tokens <= k + 1  # stopped at the token that completed the stop string


def test_partial_stop_at_the_end_is_trimmed(fresh, free_text):
    text, _ = free_text
    result = fresh.generate(PROMPT, stop=[text[-3:] + "\x01never"])
    assert result.finish_reason == "length" and result.text == text[:-3]


@pytest.mark.parametrize("stop", [[], ["<placeholder>"]])
def test_streaming_equals_generate(llm, fresh, free_text, stop):
    text, _ = free_text
    if stop:
        stop = [text[8:12]]
    chunks = list(llm.stream(PROMPT, stop=stop))
    expected = fresh.generate(PROMPT, stop=stop)
    assert "".join(c.text for c in chunks) == expected.text
    assert chunks[-1].finish_reason == expected.finish_reason
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == expected.usage.completion_tokens
    assert sum(1 for c in chunks if c.text) > 1 or not expected.text  # really streamed, not one lump


def test_batch_equals_one_by_one(fresh, free_text):
    text, _ = free_text
    prompts = [PROMPT, "你好", [Message.user("What is the capital of France?")], "Observation: 42\nThought:"]
    stop = [text[10:13]]
    batch = fresh.generate_batch(prompts, stop=stop)
    single = [fresh.generate(p, stop=stop) for p in prompts]
    assert [(b.text, b.finish_reason, b.stop_string) for b in batch] == [
        (s.text, s.finish_reason, s.stop_string) for s in single
    ]
    assert batch[0].stop_string == stop[0]  # the stop cut the first row while the others went on
    assert [b.usage.prompt_tokens for b in batch] == [s.usage.prompt_tokens for s in single]
    assert fresh.generate_batch([]) == []


def test_prefix_reuse_gives_the_same_tokens_and_reports_cached(llm, fresh):
    llm.generate(PROMPT)
    step = PROMPT  # a ReAct episode: each prompt extends the previous one by the output and an observation
    for i in range(3):
        out = llm.generate(step, stop=["Observation:"])
        ref = fresh.generate(step, stop=["Observation:"])
        assert (out.text, out.finish_reason) == (ref.text, ref.finish_reason)
        assert out.usage.cached_tokens > 0 and ref.usage.cached_tokens == 0
        assert out.usage.prompt_tokens == ref.usage.prompt_tokens
        step = step + out.text + f"Observation: result {i}\nThought:"


def test_cached_tokens_are_the_common_prefix(llm):
    one = GenerationConfig(max_tokens=1)  # the cache then holds exactly the first prompt
    llm.generate(PROMPT, config=one)
    longer = PROMPT + " calculator\nAction Input: 21 * 2"
    out = llm.generate(longer, config=one)
    expected = common_prefix_len(llm.codec.encode(PROMPT), llm.codec.encode(longer))
    assert out.usage.cached_tokens == expected > 10
    assert out.usage.prefilled_tokens == out.usage.prompt_tokens - expected
    edited = "Question: What is 22 * 2?" + longer[len("Question: What is 21 * 2?") :]
    # Qwen splits numbers into single digits, so "21" and "22" still share the token "2".
    same = len(llm.codec.encode("Question: What is 2"))
    assert llm.generate(edited, config=one).usage.cached_tokens == same


def test_chat_prompts_use_the_chat_template(llm):
    messages = [Message.user("What is 21 * 2?")]
    rendered = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is 21 * 2?<|im_end|>\n<|im_start|>assistant\n"
    assert llm.codec.encode(messages) == llm.codec.encode(rendered)
    assert llm.generate(messages).text == llm.generate(rendered).text
    continued = [*messages, Message.assistant("Thought:")]
    assert llm.codec.decode(llm.codec.encode(continued)) == rendered + "Thought:"
    assert llm.codec.encode([*messages, Message.assistant("")]) == llm.codec.encode(messages)
    with_tools = [*messages, Message.assistant("Thought: use calc"), Message.tool("42", name="calc")]
    assert llm.codec.decode(llm.codec.encode(with_tools)).endswith(
        "<|im_start|>tool\n42<|im_end|>\n<|im_start|>assistant\n"
    )


def test_chat_template_kwargs_reach_the_template(tmp_path, tiny_qwen2_dir):
    for name in ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        (tmp_path / name).symlink_to(tiny_qwen2_dir / name)
    (tmp_path / "chat_template.jinja").write_text(
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "<|im_start|>assistant\n{% if enable_thinking is defined and not enable_thinking %}<think>\n\n</think>\n\n{% endif %}"
    )
    with TransformersLLM(str(tmp_path), chat_template_kwargs={"enable_thinking": False}) as model:
        text = model.codec.decode(model.codec.encode([Message.user("hi")]))
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_seeded_sampling_is_reproducible(llm):
    def sample(seed):
        return llm.generate(PROMPT, config=GenerationConfig(max_tokens=12, temperature=1.5, seed=seed)).text

    assert sample(3) == sample(3)
    assert len({sample(3), sample(4), sample(5)}) > 1


def test_a_second_call_during_a_stream_neither_deadlocks_nor_corrupts(llm, fresh):
    stream = llm.stream(PROMPT)
    first = next(stream)
    inner = llm.generate(PROMPT + " other")
    rest = "".join(c.text for c in stream)
    assert first.text + rest == fresh.generate(PROMPT).text
    assert inner.text == fresh.generate(PROMPT + " other").text


def test_prompt_longer_than_the_context(llm):
    with pytest.raises(ContextLengthError, match="at most 4096"):
        llm.generate("word " * 4200)


def test_missing_checkpoint_path_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="checkpoint folder not found"):
        TransformersLLM(str(tmp_path / "no-such-model"))


def test_checkpoint_without_weights(tmp_path, tiny_qwen2_dir):
    shutil.copy(tiny_qwen2_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(ConfigurationError, match="could not load model weights"):
        TransformersLLM(str(tmp_path))


@pytest.mark.skipif(package_installed("gptqmodel") and package_installed("optimum"), reason="GPTQ packages present")
def test_gptq_checkpoint_without_the_packages(tmp_path, tiny_qwen2_dir):
    config = json.loads((tiny_qwen2_dir / "config.json").read_text())
    config["quantization_config"] = {"quant_method": "gptq", "bits": 4, "group_size": 128, "desc_act": False}
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(MissingDependencyError, match="gptq") as info:
        TransformersLLM(str(tmp_path))
    assert info.value.extra == "gptq" and "pip install 'qwen_agent[gptq]'" in str(info.value)


def test_closed_model_raises(tiny_qwen2_dir):
    model = TransformersLLM(str(tiny_qwen2_dir))
    model.close()
    with pytest.raises(ModelError, match="closed"):
        model.generate("hi")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_on_gpu(tiny_qwen2_dir):
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY) as gpu_llm:
        assert gpu_llm.device == "cuda" and gpu_llm.input_device.type == "cuda"
        assert gpu_llm.dtype == ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
        streamed = "".join(c.text for c in gpu_llm.stream(PROMPT))
        assert streamed == gpu_llm.generate(PROMPT).text
        assert gpu_llm.generate(PROMPT + " x").usage.cached_tokens > 0


@pytest.mark.slow
def test_compiled_decoding_equals_eager(tiny_qwen2_dir, fresh, free_text):
    """The static-cache, torch.compile'd decode step (on the CPU here: inductor, no CUDA graphs) gives the
    same greedy tokens, with prefix reuse by rewinding the static cache."""
    text, _ = free_text
    compiled = TransformersLLM.from_model(fresh.model, fresh.codec.tokenizer, config=GREEDY, compile_decode=True)
    if not compiled.compiled:
        pytest.skip("torch.compile is not usable on this machine (see the warning in the log)")
    assert compiled.generate(PROMPT).text == text
    longer = PROMPT + text[:10] + "\nObservation: 42\nThought:"
    again = compiled.generate(longer)
    assert again.usage.cached_tokens > len(compiled.codec.encode(PROMPT)) - 2
    assert again.text == fresh.generate(longer).text
    assert "".join(c.text for c in compiled.stream(PROMPT, stop=[text[5:9]])) == text[: text.index(text[5:9])]
    small = TransformersLLM.from_model(fresh.model, fresh.codec.tokenizer, config=GREEDY, compile_decode=True,
                                       max_cache_len=16)  # too short for PROMPT + 24 tokens: eager fallback
    assert small.generate(PROMPT).text == text


def test_qwen_tokenizer_codec_matches_the_chat_template(llm, qwen_tokenizer):
    """The Qwen-1 path (our tiktoken tokenizer, ChatML) encodes chats to the same ids as Qwen2's template."""
    ours = TransformersLLM.from_model(llm.model, qwen_tokenizer, config=GREEDY)
    chat = [Message.system("Be brief."), Message.user("What is 21 * 2?"), Message.assistant("Thought:")]
    assert ours.codec.encode(chat) == llm.codec.encode(chat)
    assert ours.codec.encode(PROMPT) == llm.codec.encode(PROMPT)
    assert ours.generate(chat).text == llm.generate(chat).text
    assert {151643, 151645} <= ours.codec.eos_ids


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_compiled_decoding_on_gpu(tiny_qwen2_dir):
    with TransformersLLM(str(tiny_qwen2_dir), config=GREEDY, compile_decode=True, max_cache_len=512) as gpu_llm:
        assert gpu_llm.compiled, "CUDA graphs decode step did not compile (see the log)"
        first = gpu_llm.generate(PROMPT)
        assert "".join(c.text for c in gpu_llm.stream(PROMPT)) == first.text
        longer = gpu_llm.generate(PROMPT + first.text + "\nObservation: 42\nThought:")
        assert longer.usage.cached_tokens >= len(gpu_llm.codec.encode(PROMPT)) - 1


def test_async_side_runs_the_local_model_in_a_worker_thread(fresh):
    """No native async: agenerate/astream run the blocking model off the loop, one call at a time, and give the
    same greedy text as the sync side; two concurrent requests both finish."""
    import asyncio

    prompt = "Once upon a time"
    expected = fresh.generate(prompt, config=GenerationConfig(max_tokens=8, temperature=0)).text
    assert expected

    async def main():
        config = GenerationConfig(max_tokens=8, temperature=0)
        one, two = await asyncio.gather(fresh.agenerate(prompt, config=config), fresh.agenerate(prompt, config=config))
        streamed = "".join([c.text async for c in fresh.astream(prompt, config=config)])
        return one.text, two.text, streamed

    assert asyncio.run(main()) == (expected, expected, expected)
