"""Local backend: a Qwen checkpoint run in this process with transformers.

Qwen1.5/2/2.5/3 checkpoints load natively and use their own tokenizer and chat template; Qwen-1 checkpoints
(remote code) use `QwenTokenizer` over the `qwen.tiktoken` shipped with them and ChatML. A hub name and a local
folder take the same path. The decode loop is our own (prefill, then one token at a time through a KV cache),
which gives three things `model.generate` does not:

- stop strings matched on the decoded text as it grows, only the new tail checked per token, and generation
  ended as soon as one appears (so `Observation:` stops whatever tokens it was merged into);
- streaming of text deltas straight from the loop;
- prefix reuse: the cache remembers the tokens it holds, and a prompt that extends the previous one (the next
  ReAct step appends an observation) prefills only the new tokens. `Usage.cached_tokens` says how many.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qwen_agent.errors import ConfigurationError, ContextLengthError, MissingDependencyError, ModelError
from qwen_agent.llm.base import LLM, Prompt, check_prompt
from qwen_agent.llm.local.call_grammar import CallGrammar, CallGuide, llguidance_present
from qwen_agent.llm.local.continuous import BatchModel, DecodeBatch, Row
from qwen_agent.llm.local.decode_sessions import CompiledSession, DynamicSession, cache_field, make_session
from qwen_agent.llm.local.decoding import (
    HeldTokens,
    RepetitionPenalty,
    TextTail,
    config_of_checkpoint,
    make_generator,
    sample_next,
)
from qwen_agent.llm.local.gguf import convert_gguf, dequantized, require_gguf
from qwen_agent.llm.local.local_setup import (
    check_checkpoint_path,
    check_quantize,
    choose_attn_implementation,
    choose_device,
    choose_device_map,
    choose_dtype,
    choose_quantize,
    explain_dtype,
    gguf_source,
    probe_machine,
    quantization_method,
    require_gptq,
)
from qwen_agent.llm.local.prompt_codec import HFCodec, PromptCodec, TiktokenCodec, template_tool_format
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Usage

logger = logging.getLogger(__name__)

QWEN1_MODEL_TYPE = "qwen"  # Qwen-1 (remote code); Qwen1.5 and later are "qwen2", "qwen3", "qwen2_moe", ...


class _DropTorchaoNotices(logging.Filter):
    """transformers imports torchao when it is installed, and torchao 0.18 then logs on every start: a
    deprecation notice from torch 2.13's pytree for each enum it registers, and, on a CPU-only torch, one
    line per CUDA-only extension it cannot load. Both are harmless and not ours to fix."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "is an Enum subclass and is now natively supported" in message:
            return False
        cpu_only = getattr(getattr(sys.modules.get("torch"), "version", None), "cuda", "") is None
        return not (cpu_only and message.startswith("Failed to load") and "torchao" in message)


_TORCHAO_NOTICES = _DropTorchaoNotices()


def _import_torch_transformers() -> tuple[Any, Any]:
    for name in ("torch.utils._pytree", "torchao"):  # idempotent: the same filter instance
        logging.getLogger(name).addFilter(_TORCHAO_NOTICES)
    try:
        import torch
        import transformers
    except ImportError as e:
        raise MissingDependencyError(e.name or "transformers", "local", "The transformers backend") from e
    return torch, transformers


class TransformersLLM(LLM):
    """A Qwen checkpoint run locally with transformers.

    Args:
        device: "cuda", "cuda:1", "cpu", "mps"; default: the GPU when there is one, else the CPU. Plain "cuda"
            on a machine with several GPUs spreads the model over all of them (`device_map="auto"`).
        model: a local checkpoint folder, a `.gguf` file (dequantized at load; needs the `gguf` package), or
            a hub name ("Qwen/Qwen2.5-7B-Instruct").
        dtype: "bfloat16", "float16", "float32" (or a torch.dtype); default: bf16 on GPUs that support it,
            fp16 on other GPUs and for GPTQ checkpoints; on the CPU bf16 where it computes bf16 natively
            (AVX512-BF16, AMX), else fp32. The log says which and why.
        attn_implementation: "flash_attention_2", "sdpa" or "eager"; default: FlashAttention-2 when installed
            and usable (CUDA, compute capability 8.0+, fp16/bf16), else SDPA. The log says which one is active.
        trust_remote_code: run the checkpoint's own Python code; Qwen-1 checkpoints need it.
        config: default generation settings.
        reuse_prefix: keep the KV cache between calls and reuse the longest shared token prefix.
        compile_decode: decode single prompts with a static KV cache and a `torch.compile`d step (CUDA graphs
            on a GPU): much faster decoding at batch 1 after a compile at load time. Falls back to eager
            decoding, with a warning, where it cannot be used.
        max_cache_len: positions of the static cache when `compile_decode` is on (capped by the model's
            context); longer generations use eager decoding.
        chat_template_kwargs: extra variables for the chat template, e.g. `{"enable_thinking": False}` for
            Qwen3.
        local_files_only: never contact the hub (only meaningful for hub names).
        revision: hub revision (branch, tag or commit) of a hub checkpoint.
        quantize: "int8": each Linear layer's weight (the head included) as int8 with a per-row scale
            (`qwen_agent.llm.local.quantize.Int8Linear`), computing in `dtype`; a quarter of float32's weight memory.
            On a CPU, decoding uses torch's int8-weight kernel (measured against fp32 and bf16 in
            docs/local-backend.md); elsewhere the int8 values go through the dense matmul. "auto": int8 on a
            CPU with native bf16 and torch's int8 kernel, else none (the CLI's default). None: no quantization.
        gguf_cache_dir: with a `.gguf` model, keep its conversion to safetensors here (keyed by the file's
            size, mtime and the dtype), so later loads take seconds instead of re-dequantizing; None: convert
            at every load.
        constrain_calls: once the model opens a tool call in any shape the format's reader takes (Hermes
            `<tool_call>`, a ```json fence or a bare `{"name": "` line; ReAct `Action:`), or from the first
            token for a forced one, only let it write a call to an offered tool whose arguments match the tool's
            schema (`qwen_agent.llm.local.call_grammar`). None (the default): on where the `grammar` extra
            (llguidance) is installed, measured to help both real models at a small per-token cost
            (docs/local-backend.md); True without it: off, with a warning. An attribute of the same name turns
            it on and off later.
    """

    def __init__(
        self,
        model: str,
        *,
        device: str | None = None,
        dtype: Any = None,
        attn_implementation: str | None = None,
        trust_remote_code: bool = False,
        config: GenerationConfig | None = None,
        reuse_prefix: bool = True,
        compile_decode: bool = False,
        max_cache_len: int = 8192,
        chat_template_kwargs: dict[str, Any] | None = None,
        local_files_only: bool = False,
        revision: str | None = None,
        quantize: str | None = None,
        gguf_cache_dir: str | Path | None = None,
        constrain_calls: bool | None = None,
    ) -> None:
        super().__init__(config)
        torch, transformers = _import_torch_transformers()
        self._torch = torch
        self.model_name = model
        self.reuse_prefix = reuse_prefix
        self.constrain_calls = llguidance_present() if constrain_calls is None else constrain_calls
        self._compile_len = max_cache_len if compile_decode else None
        check_checkpoint_path(model)
        check_quantize(quantize, gptq=False)
        source, hub = _source_and_hub(model, trust_remote_code, revision, local_files_only)
        machine = probe_machine()
        self.device = choose_device(device, machine)
        if "gguf_file" in hub and gguf_cache_dir is not None:  # read the converted copy: seconds, not a minute
            dtype_name = choose_dtype(dtype, self.device, machine)  # a GGUF file is never GPTQ
            source, hub = _converted_gguf(transformers, model, hub, dtype_name, Path(gguf_cache_dir))
        hf_config = _load_config(transformers, source, hub)
        self.is_qwen1 = getattr(hf_config, "model_type", None) == QWEN1_MODEL_TYPE
        quant = quantization_method(hf_config.to_dict())
        if quant == "gptq":
            require_gptq()
        check_quantize(quantize, gptq=quant == "gptq")
        from qwen_agent.llm.local.quantize import (
            KERNEL_PRESENT,  # imports torch: only once it was found above
        )

        quantize, why = choose_quantize(quantize, self.device, machine, gptq=quant == "gptq", kernel=KERNEL_PRESENT)
        logger.info("quantize %s (%s)", quantize, why)
        self.quantize = quantize
        self.dtype = choose_dtype(dtype, self.device, machine, gptq=quant == "gptq")
        logger.info("dtype %s", explain_dtype(dtype, self.device, machine, gptq=quant == "gptq"))
        self.attn_implementation = choose_attn_implementation(attn_implementation, self.device, self.dtype, machine)
        if self.attn_implementation == "sdpa" and self.device == "cpu" and not self.is_qwen1:
            from qwen_agent.llm.local.cpu_attention import register

            self.attn_implementation = register() or "sdpa"  # SDPA, one decoding query per step packed (10x)
        loaded = self._load_model(transformers, source, hub, choose_device_map(self.device, machine))
        if quantize:
            from qwen_agent.llm.local.quantize import quantize_model

            quantize_model(loaded, quantize)
        codec = _load_codec(transformers, source, hub, self.is_qwen1, loaded, chat_template_kwargs)
        self._attach(loaded, codec)
        active = getattr(loaded.config, "_attn_implementation", None) or self.attn_implementation
        extra = "".join(f", {q}" for q in (quant, quantize and f"{quantize} weights") if q)
        logger.info("loaded %s on %s (%s, attention: %s%s)", model, self.input_device, self.dtype, active, extra)

    @classmethod
    def from_model(
        cls,
        model: Any,
        tokenizer: Any,
        *,
        config: GenerationConfig | None = None,
        reuse_prefix: bool = True,
        compile_decode: bool = False,
        max_cache_len: int = 8192,
        model_name: str | None = None,
        constrain_calls: bool | None = None,
    ) -> TransformersLLM:
        """Wrap a model already in memory (e.g. built from a config, or loaded with custom options).

        Args:
            model: a transformers causal LM, already on its device and in its dtype.
            tokenizer: its transformers tokenizer, or a `QwenTokenizer` (ChatML for chat prompts).
            config: default generation settings.
            reuse_prefix: keep the KV cache between calls and reuse the longest shared token prefix.
            compile_decode, max_cache_len, constrain_calls: as for the constructor.
            model_name: the name shown in logs; default: the model config's `_name_or_path`.
        """
        from qwen_agent.llm.tokenizer import QwenTokenizer

        torch, _ = _import_torch_transformers()
        self = cls.__new__(cls)
        LLM.__init__(self, config)
        self._torch = torch
        self.model_name = model_name or getattr(model.config, "_name_or_path", "") or "in-memory model"
        self.reuse_prefix = reuse_prefix
        self.constrain_calls = llguidance_present() if constrain_calls is None else constrain_calls
        self._compile_len = max_cache_len if compile_decode else None
        self.quantize = None
        self.is_qwen1 = getattr(model.config, "model_type", None) == QWEN1_MODEL_TYPE
        self.device = str(model.get_input_embeddings().weight.device)
        self.dtype = str(model.dtype).removeprefix("torch.")
        self.attn_implementation = getattr(model.config, "_attn_implementation", None) or "unknown"
        eos = _eos_ids(model)
        codec = TiktokenCodec(tokenizer, eos) if isinstance(tokenizer, QwenTokenizer) else HFCodec(tokenizer, eos)
        self._attach(model.eval(), codec)
        return self

    def _attach(self, model: Any, codec: PromptCodec) -> None:
        self.model = model
        self.codec = codec
        self.max_positions = _max_positions(model.config)
        self.context_window = context_window_of(
            self.max_positions, getattr(getattr(codec, "tokenizer", None), "model_max_length", None))
        self.input_device = model.get_input_embeddings().weight.device
        head = model.get_output_embeddings()
        self.output_device = _tensor_device(head) if head is not None else self.input_device  # logits live here
        self._logits_kw = _logits_kwargs(model)
        self._cache_field = cache_field(model)
        compile_len = min(self._compile_len, self.max_positions or self._compile_len) if self._compile_len else None
        self._session = make_session(model, self._logits_kw, compile_len)
        self.compiled = isinstance(self._session, CompiledSession)
        self._lock = threading.Lock()
        self._call_grammar: CallGrammar | None = None  # built at the first constrained call (about a second)

    def _call_guide(self, prompt: Prompt) -> CallGuide | None:
        """The constraint of a prompt's tool calls (`ChatPrompt.calls`), when this backend constrains them."""
        calls = getattr(prompt, "calls", None)
        if calls is None or not self.constrain_calls:
            return None
        if self._call_grammar is None:
            if not llguidance_present():
                logger.warning("tool calls unconstrained: pip install 'qwen_agent[grammar]' to constrain them")
                self.constrain_calls = False
                return None
            vocab = getattr(self.model.config, "vocab_size", None) or len(self.codec.tokenizer)  # type: ignore[attr-defined]
            self._call_grammar = CallGrammar(self.codec.tokenizer, vocab, sorted(self.codec.eos_ids))  # type: ignore[attr-defined]
        return self._call_grammar.guide(calls)

    # --- loading ------------------------------------------------------------------------------------------
    def _load_model(self, transformers: Any, model: str, hub: dict[str, Any], device_map: Any) -> Any:
        torch = self._torch
        kwargs: dict[str, Any] = dict(hub)
        kwargs[_dtype_kwarg(transformers)] = getattr(torch, self.dtype)
        if device_map is not None:
            kwargs["device_map"] = device_map
        if self.is_qwen1:  # Qwen-1's remote code picks its kernels from its own flags
            kwargs.update(bf16=self.dtype == "bfloat16", fp16=self.dtype == "float16", fp32=self.dtype == "float32")
            kwargs["use_flash_attn"] = self.attn_implementation == "flash_attention_2"
            if not kwargs["use_flash_attn"]:
                self.attn_implementation = "remote code's own"
        else:
            kwargs["attn_implementation"] = self.attn_implementation
        if "gguf_file" in kwargs:  # dequantized tensor by tensor into the dtype: no float32 copy of the model
            kwargs.update(dequantized(transformers))
        try:
            loaded = transformers.AutoModelForCausalLM.from_pretrained(model, **kwargs)
        except (OSError, ValueError) as e:
            raise ConfigurationError(f"could not load model weights from {model!r}: {e}") from e
        if device_map is None:
            loaded.to(self.device)
        return loaded.eval()

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` with this checkpoint's tokenizer (special-token text counts as its token)."""
        return len(self.codec.encode(text))

    def template_tool_format(self) -> str | None:
        """Read off the checkpoint's chat template ("" for Qwen-1's ChatML, which renders no tools)."""
        if isinstance(self.codec, TiktokenCodec):
            return ""
        return template_tool_format(getattr(self.codec.tokenizer, "chat_template", None))

    def checkpoint_generation_config(self, *, greedy: bool = True, fallback_max_tokens: int = 1024
                                     ) -> GenerationConfig | None:
        """The checkpoint's own generation config (`generation_config.json`) as our decoding settings; see
        `qwen_agent.llm.local.decoding.checkpoint_config`."""
        return config_of_checkpoint(self.model, greedy=greedy, fallback_max_tokens=fallback_max_tokens)

    # --- hooks --------------------------------------------------------------------------------------------
    def _generate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        parts: list[str] = []
        finish: Any = "stop"
        usage = Usage()
        for chunk in self._stream(prompt, stop, config):
            parts.append(chunk.text)
            if chunk.finish_reason is not None:
                finish, usage = chunk.finish_reason, chunk.usage or usage
        return Generation(text="".join(parts), finish_reason=finish, usage=usage)

    def _stream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Iterator[Chunk]:
        ids = self.codec.encode(prompt)
        max_new = self._budget(len(ids), config)
        # One cache per model: a second generation while one is in progress (e.g. a stream not yet consumed)
        # gets a private cache instead of waiting, so nothing deadlocks and the shared cache stays consistent.
        owned = self._lock.acquire(blocking=False)
        try:
            session = self._session if owned else None
            if session is None or not session.fits(len(ids) + max_new):
                session = DynamicSession(self.model, self._logits_kw)
            yield from self._decode_one(ids, stop, config, max_new, session, self._call_guide(prompt))
        finally:
            if owned:
                self._lock.release()

    def _close(self) -> None:
        self._session = None
        self.model = None
        if self._torch.cuda.is_available():
            self._torch.cuda.empty_cache()

    # --- batches ------------------------------------------------------------------------------------------
    def generate_batch(
        self, prompts: Sequence[Prompt], *, stop: Sequence[str] = (), config: GenerationConfig | None = None
    ) -> list[Generation]:
        """Complete several prompts in one batch (each prefilled alone, then decoded together); each result is
        trimmed like `generate`'s.

        Greedy results equal those of calling `generate` on each prompt (up to floating-point ties). The batch
        neither reads nor disturbs the prefix cache of single-prompt calls.
        """
        config = config or self.default_config
        checked = [check_prompt(p) for p in prompts]
        batch = self._decode_batch(shared_cache=False)
        rows = [batch.join(p, list(stop), config) for p in checked]
        while len(batch):
            batch.step()
        return [_generation(row) for row in rows]

    def open_batch(self) -> DecodeBatch | None:
        """A continuous batch over this model (`qwen_agent.llm.local.continuous`), for a server's decode loop: requests
        join and leave it between steps, and its joining prompts reuse (and its finished rows refresh) the
        prefix cache of single-prompt calls. Use it from one thread. None for Qwen-1 remote-code checkpoints,
        whose cache layout it does not know."""
        return None if self.is_qwen1 else self._decode_batch(shared_cache=True)

    def _decode_batch(self, shared_cache: bool) -> DecodeBatch:
        if self.model is None:
            raise ModelError("this TransformersLLM was closed")
        return DecodeBatch(BatchModel(
            model=self.model, cache_field=self._cache_field, logits_kw=self._logits_kw,
            encode=lambda prompt: self.codec.encode(check_prompt(prompt)), decode=self.codec.decode,
            eos_ids=self.codec.eos_ids, budget=self._budget,
            prefill=self._prefill_row if shared_cache else self._prefill_private,
            remember=self._remember_row if shared_cache else lambda ids, cache: None,
            guide=self._call_guide,
        ))  # fmt: skip

    def _prefill_row(self, ids: list[int]) -> tuple[Any, Any, int]:
        """Prefill through the shared session (prefix reuse) when no single-prompt call holds it."""
        with self._row_session() as session:
            reused = session.prepare(ids, reuse=self.reuse_prefix)
            return session.extend(ids[reused:]), session.cache, reused

    def _prefill_private(self, ids: list[int]) -> tuple[Any, Any, int]:
        session = DynamicSession(self.model, self._logits_kw)
        return session.extend(ids), session.cache, 0

    def _remember_row(self, ids: list[int], cache: Any) -> None:
        if self.reuse_prefix:
            with self._row_session() as session:
                session.adopt(ids, cache)

    @contextlib.contextmanager
    def _row_session(self) -> Iterator[DynamicSession]:
        """The shared DynamicSession when it is free, else a private one (a compiled session's static cache
        cannot be stacked into a batch)."""
        owned = isinstance(self._session, DynamicSession) and self._lock.acquire(blocking=False)
        try:
            yield self._session if owned else DynamicSession(self.model, self._logits_kw)
        finally:
            if owned:
                self._lock.release()

    # --- the decode loops ---------------------------------------------------------------------------------
    def _decode_one(
        self, ids: list[int], stop: list[str], config: GenerationConfig, max_new: int, session: Any,
        guide: CallGuide | None = None,
    ) -> Iterator[Chunk]:
        reused = session.prepare(ids, reuse=self.reuse_prefix)
        tail = TextTail(self.codec.decode, stop)
        turn = HeldTokens(tail)
        generator = make_generator(config, self.output_device)
        penalty = RepetitionPenalty.for_config(config, [ids])
        logits = session.extend(ids[reused:])
        finish: Any = "length"
        last = ""
        while len(turn.ids) < max_new:
            if guide is not None:
                logits = guide.mask(logits)
            token = int(sample_next(logits, config, generator, penalty)[0])
            keep = guide.advance(token) if guide is not None else None
            if keep is not None:  # a call already run: back to where it opened, its first token banned there
                turn.keep(keep)
                penalty = RepetitionPenalty.for_config(config, [ids + turn.ids])
                logits = _logits_at(session, ids + turn.ids)
                continue
            if token in self.codec.eos_ids:
                finish = "stop"
                break
            delta = turn.push(token, guide.held_from if guide is not None else None)
            if tail.stop is not None:  # the delta goes out with the final chunk, so usage is not lost
                finish, last = "stop", delta
                break
            if delta:
                yield Chunk(text=delta)
            if len(turn.ids) < max_new:
                logits = session.extend([token])
        if tail.stop is None:  # what a guide held back is shown now
            last = turn.release()
            finish = "stop" if tail.stop is not None else finish
        usage = Usage(prompt_tokens=len(ids), completion_tokens=len(tail.ids), cached_tokens=reused,
                      repeats_avoided=guide.rewinds if guide is not None else 0)
        yield Chunk(text=last + tail.flush(), finish_reason=finish, usage=usage)

    def _budget(self, prompt_len: int, config: GenerationConfig) -> int:
        if prompt_len == 0:
            raise ValueError("the prompt encodes to no tokens")
        if self.max_positions is not None and prompt_len >= self.max_positions:
            raise ContextLengthError(
                f"the prompt has {prompt_len} tokens; {self.model_name} takes at most {self.max_positions}"
            )
        if self.model is None:
            raise ModelError("this TransformersLLM was closed")
        room = self.max_positions - prompt_len if self.max_positions is not None else config.max_tokens
        return max(0, min(config.max_tokens, room))


def _logits_at(session: Any, context: list[int]) -> Any:
    """The next token's logits after `context`, a prefix of what `session` holds: the cache is cut to all but
    its last token, which is fed again."""
    session.prepare(context, reuse=True)
    return session.extend(context[-1:])


def _generation(row: Row) -> Generation:
    """What `generate` returns for a finished batch row."""
    chunks = row.drain()
    return Generation(text="".join(c.text for c in chunks), finish_reason=row.finish or "stop",
                      stop_string=row.stop_string, usage=chunks[-1].usage or Usage())


def _source_and_hub(
    model: str, trust_remote_code: bool, revision: str | None, local_files_only: bool
) -> tuple[str, dict[str, Any]]:
    """What `from_pretrained` is given: the folder (or hub name), and its keyword arguments (a `.gguf` file
    is its folder plus `gguf_file=`)."""
    hub: dict[str, Any] = {"trust_remote_code": trust_remote_code, "revision": revision}
    if local_files_only:
        hub["local_files_only"] = True
    source, gguf_file = gguf_source(model)
    if gguf_file:
        require_gguf()
        hub["gguf_file"] = gguf_file
    return source, hub


def _converted_gguf(
    transformers: Any, model: str, hub: dict[str, Any], dtype: str, cache_dir: Path
) -> tuple[str, dict[str, Any]]:
    """The folder of the GGUF file's cached conversion to `dtype` (made now if missing), and `hub` without
    `gguf_file`."""
    import torch

    folder = convert_gguf(transformers, Path(model).expanduser(), getattr(torch, dtype), dtype, cache_dir)
    return str(folder), {k: v for k, v in hub.items() if k != "gguf_file"}


def _load_config(transformers: Any, model: str, hub: dict[str, Any]) -> Any:
    try:
        return transformers.AutoConfig.from_pretrained(model, **hub)
    except (OSError, ValueError) as e:
        hint = " (this checkpoint runs its own code: pass trust_remote_code=True)" if "remote" in str(e) else ""
        raise ConfigurationError(f"could not load the model config of {model!r}{hint}: {e}") from e


def _eos_ids(model: Any) -> list[int]:
    generation_config = getattr(model, "generation_config", None)
    eos = getattr(generation_config, "eos_token_id", None)
    return [eos] if isinstance(eos, int) else list(eos or [])


def _load_codec(
    transformers: Any,
    model: str,
    hub: dict[str, Any],
    is_qwen1: bool,
    loaded: Any,
    template_kwargs: dict[str, Any] | None,
) -> PromptCodec:
    eos_ids = _eos_ids(loaded)
    if is_qwen1:
        from qwen_agent.llm.tokenizer import VOCAB_FILE, QwenTokenizer

        kwargs = {k: v for k, v in hub.items() if k != "trust_remote_code"}
        path = transformers.utils.cached_file(model, VOCAB_FILE, **kwargs)
        return TiktokenCodec(QwenTokenizer(path), eos_ids)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(model, **hub)
    except (OSError, ValueError) as e:
        raise ConfigurationError(f"could not load the tokenizer of {model!r}: {e}") from e
    return HFCodec(tokenizer, eos_ids, template_kwargs)


def _max_positions(hf_config: Any) -> int | None:
    for name in ("max_position_embeddings", "seq_length", "n_positions"):
        value = getattr(hf_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


_SANE_WINDOW = 10_000_000  # transformers writes 1e30 as model_max_length when a tokenizer sets none


def context_window_of(max_positions: int | None, model_max_length: Any) -> int | None:
    """The prompt-plus-completion limit a checkpoint declares: the smaller of the model's positions and the
    tokenizer's `model_max_length`, each counted only when it is a plausible size; None when neither is."""
    sane = [v for v in (max_positions, model_max_length)
            if isinstance(v, int) and not isinstance(v, bool) and 0 < v < _SANE_WINDOW]
    return min(sane, default=None)


def _tensor_device(module: Any) -> Any:
    """The device of a module's first parameter or buffer (an int8 head holds buffers only)."""
    return next(itertools.chain(module.parameters(), module.buffers())).device


def _dtype_kwarg(transformers: Any) -> str:
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return "dtype" if (major, minor) >= (4, 56) else "torch_dtype"


def _logits_kwargs(model: Any) -> dict[str, Any]:
    """Ask for the last position's logits only (a 2k-token prefill would otherwise build 2k x vocab logits),
    when the model's forward accepts it (remote-code models may not)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return {"logits_to_keep": 1} if "logits_to_keep" in params else {}
