"""Write a transformers Qwen2 checkpoint folder as a GGUF file (float32 tensors), with the `gguf` package's
writer: a hub-free GGUF for tests, laid out as llama.cpp's converter writes Qwen2 (no q/k permutation)."""

from __future__ import annotations

import json
from pathlib import Path

LAYER_TENSORS = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}


def write_qwen2_gguf(checkpoint: Path, out: Path) -> Path:
    """Write `checkpoint` (a Qwen2 folder with a fast tokenizer and chat template) to the GGUF file `out`."""
    import gguf
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    writer = gguf.GGUFWriter(str(out), "qwen2")
    _write_config(writer, model.config)
    _write_tokenizer(writer, checkpoint, model.config.vocab_size)
    state = model.state_dict()

    def put(name: str, key: str) -> None:
        writer.add_tensor(name, state[key].detach().float().numpy())

    put("token_embd.weight", "model.embed_tokens.weight")
    put("output_norm.weight", "model.norm.weight")
    if not model.config.tie_word_embeddings:
        put("output.weight", "lm_head.weight")
    for i in range(model.config.num_hidden_layers):
        for hf_name, gguf_name in LAYER_TENSORS.items():
            for kind in ("weight", "bias"):
                if f"model.layers.{i}.{hf_name}.{kind}" in state:
                    put(f"blk.{i}.{gguf_name}.{kind}", f"model.layers.{i}.{hf_name}.{kind}")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out


def _write_config(writer, config) -> None:
    writer.add_name("tiny-qwen2")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    rope = getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta}
    writer.add_rope_freq_base(rope["rope_theta"])
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)


def _write_tokenizer(writer, checkpoint: Path, vocab_size: int) -> None:
    import gguf

    data = json.loads((checkpoint / "tokenizer.json").read_text(encoding="utf-8"))
    added = {a["content"]: a["id"] for a in data["added_tokens"]}
    tokens = [""] * vocab_size
    types = [gguf.TokenType.NORMAL] * vocab_size
    for text, i in data["model"]["vocab"].items():
        tokens[i] = text
    for text, i in added.items():
        tokens[i], types[i] = text, gguf.TokenType.CONTROL
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in data["model"]["merges"]])
    writer.add_eos_token_id(added["<|im_end|>"])
    writer.add_bos_token_id(added["<|endoftext|>"])
    writer.add_pad_token_id(added["<|endoftext|>"])
    writer.add_add_bos_token(False)
    writer.add_chat_template((checkpoint / "chat_template.jinja").read_text(encoding="utf-8"))


SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
MERGES = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"), ("Ġ", "w")]


def save_small_byte_tokenizer(out_dir: Path, chat_template: str) -> int:
    """A byte-level BPE tokenizer with 256 byte tokens, a few merges and ChatML's special tokens (a vocabulary
    of ~270: its GGUF metadata reads in milliseconds, where Qwen's 151k tokens take tens of seconds).
    Returns the vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    vocab = {ch: i for i, ch in enumerate(bytes_to_unicode().values())}
    for a, b in MERGES:
        vocab[a + b] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=MERGES))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    fast = PreTrainedTokenizerFast(tokenizer_object=backend, chat_template=chat_template)
    fast.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    fast.eos_token, fast.pad_token = "<|im_end|>", "<|endoftext|>"
    fast.save_pretrained(out_dir)
    return len(vocab) + len(SPECIAL_TOKENS)
