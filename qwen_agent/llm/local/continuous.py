"""Continuous batching: many generations share one decode loop. Each joins when it arrives and leaves when it
ends (end-of-sequence token, stop string, token limit) or is cancelled; the others go on undisturbed.

The rows' keys and values live in one left-padded KV cache, `[rows, heads, width, dim]` per layer. A joining
prompt is prefilled alone (batch 1, through the backend's prefix-reusing session), and only then is its cache
left-padded to the batch's width (or the batch's padded to its length) and stacked under the running rows: a
prefill never writes into a running row's cache. Each row has its own attention-mask row (0 over its padding)
and position ids (its own token count), so padding changes neither what it attends to nor its rotary
positions. A row's real tokens are always its last columns: padding only ever goes on the left, and a row
that ends leaves the batch at once (leading columns that have become padding for every row are cut off).

Each row has its own stop strings, sampling settings and random generator, and reads its text through the
same `TextTail` and `StopMatcher` as `LLM.stream`, so a greedy row writes exactly what the request would write
alone (up to floating-point ties), chunk semantics included.

torch is imported lazily; transformers' DynamicCache is read as `layers[i].keys/values` (transformers 4.56
and later) or `key_cache/value_cache` (earlier) and rebuilt through its public `update`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwen_agent.llm.local.call_grammar import CallGuide
from qwen_agent.llm.local.decoding import HeldTokens, RepetitionPenalty, TextTail, make_generator, sample_next
from qwen_agent.llm.stops import StopMatcher
from qwen_agent.schema import Chunk, FinishReason, GenerationConfig, Usage


@dataclass(frozen=True)
class BatchModel:
    """What the decode loop needs of a backend.

    Attributes:
        model: a transformers causal LM whose forward takes attention_mask and position_ids.
        cache_field: the name of its cache argument ("cache" or "past_key_values").
        logits_kw: extra forward arguments (`logits_to_keep=1` where supported).
        encode: prompt -> token ids (the chat template applied to messages).
        decode: token ids -> text.
        eos_ids: tokens that end a generation.
        budget: (prompt length, config) -> most new tokens; raises on a prompt that does not fit.
        prefill: token ids -> (last-position logits [1, vocab], a batch-1 cache holding them, tokens reused).
        remember: (token ids, batch-1 cache holding them): offered a finished row's cache for prefix reuse.
        guide: prompt -> the constraint of its tool calls (`qwen_agent.llm.local.call_grammar`), or None.
    """

    model: Any
    cache_field: str
    logits_kw: dict[str, Any]
    encode: Callable[[Any], list[int]]
    decode: Callable[[Sequence[int]], str]
    eos_ids: Sequence[int]
    budget: Callable[[int, GenerationConfig], int]
    prefill: Callable[[list[int]], tuple[Any, Any, int]]
    remember: Callable[[list[int], Any], None]
    guide: Callable[[Any], CallGuide | None] = lambda prompt: None


@dataclass(eq=False)
class Row:
    """One generation in the batch. `drain()` hands over its new chunks; `finish` is set once it has ended."""

    prompt_tokens: int
    max_new: int
    config: GenerationConfig
    tail: TextTail
    matcher: StopMatcher
    generator: Any
    fed: list[int]  # the tokens whose keys and values the cache holds for this row
    reused: int = 0
    penalty: RepetitionPenalty | None = None  # the config's repetition penalty, over this row's tokens
    guide: CallGuide | None = None  # constrains this row's tool calls
    next_token: int | None = None
    finish: FinishReason | None = None
    chunks: list[Chunk] = field(default_factory=list)
    keep: int | None = None  # set when a repeated call was taken back: the turn's tokens to keep (see DecodeBatch)
    turn: HeldTokens = field(init=False)

    def __post_init__(self) -> None:
        self.turn = HeldTokens(self.tail)

    @property
    def stop_string(self) -> str | None:
        return self.matcher.stopped

    def drain(self) -> list[Chunk]:
        out, self.chunks = self.chunks, []
        return out

    def take(self, token: int, eos_ids: Sequence[int]) -> None:
        """The model chose `token`: show its text, or end the row (what `_decode_one` + `LLM.stream` do)."""
        if self.guide is not None:
            self.keep = self.guide.advance(token)
            if self.keep is not None:  # a call already run: the batch takes the row back to where it opened
                self.turn.keep(self.keep)
                self.penalty = RepetitionPenalty.for_config(self.config, [self.fed[: self.prompt_tokens] + self.turn.ids])
                return
        if token in eos_ids:
            self._end("stop", self.turn.release())
            return
        delta = self.turn.push(token, self.guide.held_from if self.guide is not None else None)
        if self.tail.stop is not None:
            self._end("stop", delta)
            return
        self._show(delta)
        if self.matcher.stopped is not None or len(self.turn.ids) >= self.max_new:
            self._end("stop" if self.matcher.stopped is not None else "length", self.turn.release())
        else:
            self.next_token = token

    def _show(self, raw: str) -> None:
        text = self.matcher.feed(raw)
        if text:
            self.chunks.append(Chunk(text=text))

    def _end(self, finish: FinishReason, last: str = "") -> None:
        self._show(last + self.tail.flush())
        if self.matcher.stopped is not None or self.tail.stop is not None:
            finish = "stop"
        rest = self.matcher.flush(keep_partial=finish != "length")
        usage = Usage(prompt_tokens=self.prompt_tokens, completion_tokens=len(self.tail.ids), cached_tokens=self.reused,
                      repeats_avoided=self.guide.rewinds if self.guide is not None else 0)
        self.chunks.append(Chunk(text=rest, finish_reason=finish, usage=usage))
        self.finish, self.next_token = finish, None


class DecodeBatch:
    """Rows decoding together, one token each per `step()`. Used from one thread at a time.

    `join(prompt, stop, config)` prefills a new row (its first token is chosen, so it may already have ended);
    `step()` advances every row by one token and drops the rows that ended; `leave(row)` drops a row early
    (its client went away). A `step()` that raises leaves the batch empty: every row's request gets the error.
    """

    def __init__(self, backend: BatchModel) -> None:
        import torch

        self._torch = torch
        self.backend = backend
        self.device = backend.model.get_input_embeddings().weight.device
        self.rows: list[Row] = []
        self._cache: Any = None
        self._mask: Any = None  # [rows, width] 1 over real tokens, 0 over padding

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def width(self) -> int:
        return 0 if self._mask is None else int(self._mask.shape[1])

    def join(self, prompt: Any, stop: Sequence[str], config: GenerationConfig) -> Row:
        """Prefill `prompt` alone and add it to the batch (unless it ended at its first token)."""
        ids = self.backend.encode(prompt)
        max_new = self.backend.budget(len(ids), config)
        row = Row(len(ids), max_new, config, TextTail(self.backend.decode, stop), StopMatcher(stop),
                  make_generator(config, self.device), [], penalty=RepetitionPenalty.for_config(config, [ids]),
                  guide=self.backend.guide(prompt))
        if max_new == 0:
            row._end("length")
            return row
        with self._torch.inference_mode():
            logits, cache, row.reused = self.backend.prefill(ids)
            row.fed = list(ids)
            row.take(self._choose(logits, [row])[0], self.backend.eos_ids)
            if row.finish is None:
                self._stack(row, cache)
        return row

    def step(self) -> list[Row]:
        """Feed every row its last token and choose the next; returns the rows that ended (now out)."""
        if not self.rows:
            return []
        torch = self._torch
        try:
            with torch.inference_mode():
                ids = torch.tensor([[r.next_token] for r in self.rows], dtype=torch.long, device=self.device)
                positions = torch.tensor([[len(r.fed)] for r in self.rows], dtype=torch.long, device=self.device)
                mask = torch.cat([self._mask, self._mask.new_ones((len(self.rows), 1))], dim=1)
                out = self.backend.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                                         **{self.backend.cache_field: self._cache}, **self.backend.logits_kw)
                self._cache, self._mask = getattr(out, self.backend.cache_field), mask
                for row in self.rows:
                    row.fed.append(row.next_token)  # type: ignore[arg-type]
                for i, (row, token) in enumerate(zip(self.rows, self._choose(out.logits[:, -1, :], self.rows),
                                                      strict=True)):
                    row.take(token, self.backend.eos_ids)
                    if row.keep is not None:
                        self._take_back(i, row)
                ended = [r for r in self.rows if r.finish is not None]
                for row in ended:
                    self.backend.remember(row.fed, self._row_cache(row))
                    self._drop(row)
        except BaseException:
            self.rows, self._cache, self._mask = [], None, None
            raise
        return ended

    def leave(self, row: Row) -> None:
        """Drop `row` before it has ended (no-op when it is not in the batch)."""
        if row in self.rows:
            with self._torch.inference_mode():
                self._drop(row)

    # --- the cache ----------------------------------------------------------------------------------------
    def _choose(self, logits: Any, rows: list[Row]) -> list[int]:
        """Each row's next token under its own settings: argmax for greedy rows without a repetition penalty or
        a tool call under way, else its own call grammar, penalty and generator."""
        tokens = logits.argmax(dim=-1).tolist()
        for i, row in enumerate(rows):
            constrained = row.guide is not None and row.guide.steers
            if constrained or not row.config.greedy or row.penalty is not None:
                own = row.guide.mask(logits[i : i + 1]) if constrained else logits[i : i + 1]  # type: ignore[union-attr]
                tokens[i] = int(sample_next(own, row.config, row.generator, row.penalty)[0])
        return tokens

    def _stack(self, row: Row, cache: Any) -> None:
        """Add the batch-1 `cache` of `row`'s prompt under the running rows, left-padding the shorter side."""
        length = len(row.fed)
        width = max(self.width, length)
        new = [(_pad_left(k, width - length), _pad_left(v, width - length)) for k, v in kv_pairs(cache)]
        new_mask = self._torch.cat([self._torch.zeros((1, width - length), dtype=self._torch.long, device=self.device),
                                    self._torch.ones((1, length), dtype=self._torch.long, device=self.device)], dim=1)
        if self.rows:
            grow = width - self.width
            old = [(_pad_left(k, grow), _pad_left(v, grow)) for k, v in kv_pairs(self._cache)]
            new = [(self._torch.cat([ko, kn]), self._torch.cat([vo, vn])) for (ko, vo), (kn, vn) in zip(old, new, strict=True)]
            new_mask = self._torch.cat([_pad_left(self._mask, grow), new_mask])
        self._cache, self._mask = build_cache(new), new_mask
        self.rows.append(row)

    def _drop(self, row: Row) -> None:
        keep = [i for i, r in enumerate(self.rows) if r is not row]
        self.rows = [self.rows[i] for i in keep]
        if not self.rows:
            self._cache, self._mask = None, None
            return
        index = self._torch.tensor(keep, device=self.device)
        mask = self._mask.index_select(0, index)
        start = int(mask.any(dim=0).long().argmax())  # columns before it are padding in every remaining row
        self._mask = mask[:, start:]
        self._cache = build_cache([(k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
                                   for k, v in kv_pairs(self._cache)])

    def _take_back(self, i: int, row: Row) -> None:
        """Cut row `i` back to its prompt and the first `row.keep` tokens of its turn: the cache keeps all but
        the last of them (its other columns become left padding, so its real tokens stay its last columns), and
        that last token is fed again at the next step, whose logits choose the next token anew."""
        context = row.prompt_tokens + row.keep  # type: ignore[operator]
        cut = len(row.fed) - (context - 1)
        width = self.width
        for keys, values in kv_pairs(self._cache):
            for tensor in (keys, values):
                tensor[i, :, cut:] = tensor[i, :, : width - cut].clone()
                tensor[i, :, :cut] = 0
        self._mask[i, cut:] = self._mask[i, : width - cut].clone()
        self._mask[i, :cut] = 0
        row.next_token = row.fed[context - 1]
        del row.fed[context - 1 :]
        row.keep = None

    def _row_cache(self, row: Row) -> Any:
        """A batch-1 cache of `row`'s real tokens (its last columns)."""
        i, n = self.rows.index(row), len(row.fed)
        return build_cache([(k[i : i + 1, :, -n:].clone(), v[i : i + 1, :, -n:].clone()) for k, v in kv_pairs(self._cache)])


def kv_pairs(cache: Any) -> list[tuple[Any, Any]]:
    """Per layer (keys, values) of a transformers DynamicCache, each `[batch, heads, seq, dim]`."""
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    return list(zip(cache.key_cache, cache.value_cache, strict=True))


def build_cache(pairs: Sequence[tuple[Any, Any]]) -> Any:
    """A DynamicCache holding these per-layer (keys, values)."""
    from transformers import DynamicCache

    cache = DynamicCache()
    for layer, (keys, values) in enumerate(pairs):
        cache.update(keys, values, layer)
    return cache


def _pad_left(tensor: Any, n: int) -> Any:
    """`tensor` with `n` zero columns before its sequence axis (dim -2 of keys/values, dim 1 of a mask)."""
    if n == 0:
        return tensor
    import torch

    dim = 1 if tensor.dim() == 2 else -2
    shape = list(tensor.shape)
    shape[dim] = n
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)
