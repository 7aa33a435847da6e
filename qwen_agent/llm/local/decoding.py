"""The pieces of a decode loop: sampling, incremental detokenization with stop-string scanning, and a KV cache
that remembers which tokens it holds so the next prompt reuses the longest shared prefix.

torch is imported by the caller's module only; functions here take tensors and never import transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from qwen_agent.llm.stops import find_stop
from qwen_agent.schema import GenerationConfig

# A run of undecodable bytes longer than this is shown as replacement characters rather than held back.
MAX_PENDING_TOKENS = 8


def sample_next(logits: Any, config: GenerationConfig, generator: Any = None,
                penalty: RepetitionPenalty | None = None) -> Any:
    """Next token ids ([batch]) from last-position logits ([batch, vocab]): the repetition penalty first (when
    given; it then remembers the chosen tokens), then argmax when greedy, else temperature, top-k and top-p
    (nucleus) sampling, in transformers' order of logits processors."""
    if penalty is not None:
        chosen = _choose(penalty.apply(logits), config, generator)
        penalty.add(chosen.tolist())
        return chosen
    return _choose(logits, config, generator)


def _choose(logits: Any, config: GenerationConfig, generator: Any) -> Any:
    import torch

    if config.greedy:
        return logits.argmax(dim=-1)
    logits = logits.float() / config.temperature
    if config.top_k is not None and 0 < config.top_k < logits.shape[-1]:
        kth = torch.topk(logits, config.top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if config.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative - sorted_logits.softmax(dim=-1) >= config.top_p  # keeps at least the top token
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    probs = logits.softmax(dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class RepetitionPenalty:
    """transformers' `RepetitionPenaltyLogitsProcessor` for a loop that decodes one token per step.

    Every token id already in a row (its prompt and what was generated so far) has its logit divided by
    `penalty` when positive and multiplied by it when negative (transformers, `generation/logits_process.py`,
    `RepetitionPenaltyLogitsProcessor.__call__`: gather, `torch.where(score < 0, score * penalty, score /
    penalty)`, scatter). As transformers' `generate` does, the logits are taken in float32 first, and ids beyond
    the logits' vocabulary are ignored. The seen ids are kept as a [batch, vocab] mask, so a step costs one
    pass over the vocabulary whatever the length of the text.

    Args:
        penalty: > 0; 1.0 changes nothing (use `for_config`, which returns None then).
        rows: the prompt token ids of each row of the batch.
    """

    def __init__(self, penalty: float, rows: Sequence[Sequence[int]]) -> None:
        if penalty <= 0:
            raise ValueError(f"repetition_penalty must be > 0, got {penalty}")
        self.penalty = penalty
        self._rows = [list(r) for r in rows]
        self._mask: Any = None

    @classmethod
    def for_config(cls, config: GenerationConfig, rows: Sequence[Sequence[int]]) -> RepetitionPenalty | None:
        """The penalty `config` asks for, or None when it asks for none (1.0)."""
        return None if config.repetition_penalty == 1.0 else cls(config.repetition_penalty, rows)

    def apply(self, logits: Any) -> Any:
        """Penalised float32 copy of `logits` ([batch, vocab])."""
        import torch

        logits = logits.float()
        if self._mask is None:
            self._mask = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
            self._mark(self._rows)
        penalised = torch.where(logits < 0, logits * self.penalty, logits / self.penalty)
        return torch.where(self._mask, penalised, logits)

    def add(self, tokens: Sequence[int]) -> None:
        """One new token per row (a finished row's token is recorded too, as transformers records its pad)."""
        if self._mask is None:
            for row, token in zip(self._rows, tokens, strict=True):
                row.append(token)
        else:
            self._mark([[t] for t in tokens])

    def _mark(self, rows: Sequence[Sequence[int]]) -> None:
        vocab = self._mask.shape[-1]
        for i, ids in enumerate(rows):
            kept = [t for t in ids if 0 <= t < vocab]
            if kept:
                self._mask[i, kept] = True


# What Qwen's evaluation asked of a checkpoint (`eval/evaluate_plugin.py`, `load_models_tokenizer`, lines
# ~150-160: `GenerationConfig.from_pretrained(checkpoint)` then `do_sample = False`): the checkpoint's own
# generation config, greedy. These are the fields of transformers' GenerationConfig that our decoding has.
CHECKPOINT_FIELDS = ("do_sample", "max_new_tokens", "repetition_penalty", "temperature", "top_p", "top_k")


def checkpoint_config(hf: Mapping[str, Any], *, greedy: bool, fallback_max_tokens: int) -> GenerationConfig:
    """The decoding a checkpoint's generation config (`hf`: transformers' field names) asks for.

    greedy=True: as the published evaluations ran (`do_sample = False` over the checkpoint's config): greedy,
    with its `repetition_penalty` and `max_new_tokens` (temperature, top-p and top-k do not act when greedy);
    greedy=False: its own `do_sample`, `temperature`, `top_p`, `top_k` too (top_k 0 or absent: no top-k).
    A missing or unset `max_new_tokens` gives `fallback_max_tokens`.
    """
    max_new = hf.get("max_new_tokens")
    penalty = hf.get("repetition_penalty")
    values: dict[str, Any] = {
        "max_tokens": max_new if isinstance(max_new, int) and max_new > 0 else fallback_max_tokens,
        "repetition_penalty": float(penalty) if isinstance(penalty, int | float) and penalty > 0 else 1.0,
    }
    if not greedy and hf.get("do_sample"):
        top_k = hf.get("top_k")
        values.update(temperature=float(hf.get("temperature") or 1.0), top_p=float(hf.get("top_p") or 1.0),
                      top_k=top_k if isinstance(top_k, int) and top_k > 0 else None)
    return GenerationConfig(**values)


def config_of_checkpoint(model: Any, *, greedy: bool, fallback_max_tokens: int) -> GenerationConfig:
    """`checkpoint_config` of a loaded transformers model's `generation_config` (none: all unset)."""
    hf = getattr(model, "generation_config", None)
    return checkpoint_config({name: getattr(hf, name, None) for name in CHECKPOINT_FIELDS}, greedy=greedy,
                             fallback_max_tokens=fallback_max_tokens)


def make_generator(config: GenerationConfig, device: Any) -> Any:
    """A seeded torch.Generator on `device` when sampling with a seed, else None (torch's global RNG)."""
    if config.greedy or config.seed is None:
        return None
    import torch

    return torch.Generator(device=device).manual_seed(config.seed)


class TextTail:
    """Turns generated token ids into text deltas, and notices a stop string as soon as it appears.

    Decoding re-reads only a few tokens per step (a token can end in the middle of a UTF-8 character, so a
    delta is released only once it decodes cleanly), and the stop scan looks only at the new delta plus the
    few characters before it that could start a stop string: the per-token cost does not grow with the text.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], stops: Sequence[str]) -> None:
        self._decode = decode
        self.stops = [s for s in stops if s]
        self._keep = max((len(s) for s in self.stops), default=1) - 1
        self.ids: list[int] = []
        self.parts: list[str] = []
        self._prefix = 0  # ids[_prefix:_read] decode to the text already released (context for the next)
        self._read = 0
        self._recent = ""  # the last `_keep` characters released
        self.stop: str | None = None

    @property
    def text(self) -> str:
        return "".join(self.parts)

    def push(self, token_id: int) -> str:
        """Add one token; return the text it completes ("" while a character is still incomplete)."""
        self.ids.append(token_id)
        return self._release(final=False)

    def flush(self) -> str:
        """Release whatever is held back (call once generation has ended)."""
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        if self._read == len(self.ids):
            return ""
        before = self._decode(self.ids[self._prefix : self._read]) if self._read > self._prefix else ""
        now = self._decode(self.ids[self._prefix :])
        pending = len(self.ids) - self._read
        if not final and (len(now) <= len(before) or now.endswith("\ufffd")) and pending < MAX_PENDING_TOKENS:
            return ""
        delta = now[len(before) :]
        self._prefix, self._read = self._read, len(self.ids)
        self.parts.append(delta)
        if self.stops and self.stop is None:
            window = self._recent + delta
            hit = find_stop(window, self.stops)
            if hit is not None:
                self.stop = hit[1]
            self._recent = window[-self._keep :] if self._keep else ""
        return delta


class HeldTokens:
    """A turn's chosen tokens, shown (pushed into `tail`) only up to where a call guide may still take them back
    (`CallGuide.held_from`); the rest waits, and is dropped when taken back (`keep`)."""

    def __init__(self, tail: TextTail) -> None:
        self.tail = tail
        self.ids: list[int] = []

    def push(self, token: int, held_from: int | None) -> str:
        """Add `token`; the text released now (stops at a stop string: `tail.stop` then says which)."""
        self.ids.append(token)
        return self.release(len(self.ids) if held_from is None else held_from)

    def release(self, upto: int | None = None) -> str:
        """Show the tokens before `upto` (all of them when None) that are not shown yet."""
        upto = len(self.ids) if upto is None else min(upto, len(self.ids))
        parts = []
        while len(self.tail.ids) < upto and self.tail.stop is None:
            parts.append(self.tail.push(self.ids[len(self.tail.ids)]))
        return "".join(parts)

    def keep(self, n: int) -> None:
        """Drop every token after the first `n` (none of them shown yet)."""
        if n < len(self.tail.ids):
            raise ValueError(f"cannot take back shown tokens: keeping {n} of {len(self.tail.ids)} shown")
        del self.ids[n:]


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix of two token sequences."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class PrefixCache:
    """A batch-1 KV cache plus the token ids whose keys and values it holds.

    `prepare(ids)` keeps the longest common prefix of `ids` with the cached tokens (at least one token of the
    new prompt is always left to prefill, since its logits are needed) and returns (cache, reused); the cache
    is None when nothing is reused (the model then starts a new one). After each forward pass the caller hands
    back the model's cache with `record`. On any failure mid-way, `clear()` forgets everything, so a
    half-written cache is never reused. A cache that cannot be cropped (a legacy tuple) is never reused.
    """

    def __init__(self) -> None:
        self.cache: Any = None
        self.ids: list[int] = []

    def prepare(self, ids: Sequence[int], reuse: bool = True) -> tuple[Any, int]:
        keep = common_prefix_len(self.ids, ids) if reuse and _croppable(self.cache) else 0
        keep = min(keep, len(ids) - 1)
        if keep <= 0:
            self.clear()
            return None, 0
        if len(self.ids) > keep:
            self.cache.crop(-(len(self.ids) - keep))  # negative: remove this many (transformers 4.x and 5.x)
        self.ids = list(ids[:keep])
        return self.cache, keep

    def record(self, ids: Sequence[int], cache: Any) -> None:
        """The model has just been fed `ids`; `cache` (the one it returned) now holds them too."""
        self.ids.extend(ids)
        self.cache = cache

    def clear(self) -> None:
        self.cache = None
        self.ids = []


def _croppable(cache: Any) -> bool:
    if cache is None or not hasattr(cache, "crop"):
        return False
    return bool(getattr(cache, "is_croppable", True))
