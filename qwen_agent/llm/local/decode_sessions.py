"""Decode sessions: a model plus a batch-1 KV cache that remembers the tokens it holds.

Both kinds answer `prepare(ids, reuse) -> reused` (keep the longest shared prefix of the cache, drop the
rest) and `extend(tokens) -> logits` (feed tokens, return the last position's logits):

- `DynamicSession`: transformers' growing DynamicCache, eager forward. Works for every model and device.
- `CompiledSession`: a preallocated StaticCache and a `torch.compile`d one-token decode step (CUDA graphs on a
  GPU, mode "reduce-overhead"), which removes the per-layer kernel-launch overhead that bounds eager decoding
  of a 7B model at batch 1. Prefill stays eager. Opt-in, single device only; any failure to compile or run
  falls back to `DynamicSession` with a warning.

transformers 5.x renamed the forward argument and output field `past_key_values` to `cache` (the old name
warns on every call and is going away); `cache_field(model)` picks whichever name the model's forward takes,
so remote-code models that still take `past_key_values` keep working.
"""

from __future__ import annotations

import logging
from typing import Any

from qwen_agent.llm.local.decoding import PrefixCache, common_prefix_len

logger = logging.getLogger(__name__)


def cache_field(model: Any) -> str:
    """The name under which `model.forward` takes the KV cache and returns it: "cache" (transformers 5.x)
    or "past_key_values" (4.x, and remote-code models)."""
    import inspect

    return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"


class DynamicSession:
    """Eager forward passes over a DynamicCache, with prefix reuse through `PrefixCache`."""

    def __init__(self, model: Any, logits_kw: dict[str, Any]) -> None:
        import torch

        self._torch = torch
        self.model = model
        self.device = model.get_input_embeddings().weight.device
        self._logits_kw = logits_kw
        self._cache_field = cache_field(model)
        self.prefix = PrefixCache()

    def prepare(self, ids: list[int], reuse: bool) -> int:
        with self._torch.inference_mode():
            return self.prefix.prepare(ids, reuse=reuse)[1]

    def extend(self, tokens: list[int]) -> Any:
        torch = self._torch
        try:
            with torch.inference_mode():
                input_ids = torch.tensor([tokens], dtype=torch.long, device=self.device)
                cache = {self._cache_field: self.prefix.cache}
                out = self.model(input_ids=input_ids, use_cache=True, **cache, **self._logits_kw)
        except BaseException:
            self.prefix.clear()  # the cache may hold part of this step: never reuse it
            raise
        self.prefix.record(tokens, getattr(out, self._cache_field))
        return out.logits[:, -1, :]

    def fits(self, total_tokens: int) -> bool:
        return True

    @property
    def cache(self) -> Any:
        """The DynamicCache holding the tokens fed so far (None before the first)."""
        return self.prefix.cache

    def adopt(self, ids: list[int], cache: Any) -> None:
        """Hold `cache`, which holds `ids`, in place of the current one (a batch row's, once it has ended)."""
        self.prefix.clear()
        self.prefix.record(ids, cache)


class CompiledSession:
    """A StaticCache of `max_len` positions and a compiled decode step; prefix reuse by rewinding the cache's
    write position (positions past it are overwritten later and masked out meanwhile by causality)."""

    def __init__(self, model: Any, logits_kw: dict[str, Any], max_len: int) -> None:
        import torch
        from transformers import StaticCache

        self._torch = torch
        self.model = model
        self.device = model.get_input_embeddings().weight.device
        self._logits_kw = logits_kw
        self.max_len = max_len
        self.cache = StaticCache(config=model.config, max_cache_len=max_len)
        if not all(hasattr(layer, "cumulative_length") for layer in getattr(self.cache, "layers", [None])):
            raise RuntimeError("this transformers version's StaticCache cannot be rewound")
        mode = "reduce-overhead" if self.device.type == "cuda" else None
        self._step = torch.compile(model.forward, mode=mode, fullgraph=True)
        self._cache_field = cache_field(model)
        self.ids: list[int] = []

    def fits(self, total_tokens: int) -> bool:
        return total_tokens <= self.max_len

    def warm_up(self, steps: int = 3) -> None:
        """Compile (and on CUDA record the graph of) the decode step now, so a failure shows at load time."""
        self.prepare([0, 0], reuse=False)
        self.extend([0, 0])
        for _ in range(steps):
            self.extend([0])
        self.prepare([], reuse=False)

    def prepare(self, ids: list[int], reuse: bool) -> int:
        keep = max(min(common_prefix_len(self.ids, ids), len(ids) - 1), 0) if reuse else 0
        with self._torch.no_grad():
            self._rewind(keep)
        self.ids = list(ids[:keep])
        return keep

    def _rewind(self, length: int) -> None:
        for layer in self.cache.layers:
            layer.cumulative_length.fill_(length)

    def extend(self, tokens: list[int]) -> Any:
        torch = self._torch
        start = len(self.ids)
        try:
            # no_grad, not inference_mode: CUDA graphs update the cache in place from outside the traced call,
            # which inference tensors forbid ("Inplace update to inference tensor outside InferenceMode").
            with torch.no_grad():
                input_ids = torch.tensor([tokens], dtype=torch.long, device=self.device)
                positions = torch.arange(start, start + len(tokens), device=self.device).unsqueeze(0)
                forward = self._step if len(tokens) == 1 else self.model.forward  # prefill stays eager
                cache = {self._cache_field: self.cache}
                out = forward(input_ids=input_ids, position_ids=positions, use_cache=True, **cache, **self._logits_kw)
                logits = out.logits[:, -1, :].clone()  # CUDA graphs reuse their output buffers
        except BaseException:
            self.ids = []
            with torch.no_grad():
                self._rewind(0)
            raise
        self.ids.extend(tokens)
        return logits


def make_session(model: Any, logits_kw: dict[str, Any], compile_len: int | None) -> Any:
    """A CompiledSession when `compile_len` is set and the model allows one, else a DynamicSession."""
    if compile_len:
        devices = set(getattr(model, "hf_device_map", {}).values() or [None])
        if len(devices) > 1:
            logger.warning("compiled decoding needs the model on one device; using eager decoding")
        else:
            try:
                session = CompiledSession(model, logits_kw, compile_len)
                session.warm_up()
                return session
            except Exception as e:  # noqa: BLE001 - any failure here means: use the eager path
                logger.warning("compiled decoding unavailable (%s: %s); using eager decoding", type(e).__name__, e)
    return DynamicSession(model, logits_kw)
