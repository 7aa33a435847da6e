"""Stop strings matched on decoded text, batch and incremental.

Matching text (not token ids) makes `Observation:` stop whatever the tokenizer merged it with. The streaming
matcher holds back any tail that could still grow into a stop string, so no prefix of a stop string is ever
shown to the reader.
"""

from __future__ import annotations

from collections.abc import Sequence

from qwen_agent.text import partial_marker_len


def find_stop(text: str, stops: Sequence[str]) -> tuple[int, str] | None:
    """Earliest occurrence of any stop string in `text` as (index, stop), or None."""
    best: tuple[int, str] | None = None
    for stop in stops:
        if not stop:
            continue
        i = text.find(stop)
        if i != -1 and (best is None or i < best[0] or (i == best[0] and len(stop) > len(best[1]))):
            best = (i, stop)
    return best


def trim_at_stop(text: str, stops: Sequence[str]) -> tuple[str, str | None]:
    """Cut `text` at its first stop string; returns (text, stop found or None)."""
    hit = find_stop(text, stops)
    if hit is None:
        return text, None
    return text[: hit[0]], hit[1]


class StopMatcher:
    """Incremental stop matching for a stream of text deltas.

    `feed(delta)` returns the text that is now safe to show; once a stop string is seen, `stopped` is set and
    the rest is discarded. `flush(keep_partial)` returns the held-back tail at the end of the stream: kept when
    the model ended on its own (it was content, not a stop), dropped when it was cut off by the token limit.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = [s for s in stops if s]
        self._held = ""
        self.stopped: str | None = None
        # Only the last (longest stop - 1) characters can be part of a pending match.
        self._window = max((len(s) for s in self.stops), default=0)

    def feed(self, delta: str) -> str:
        if self.stopped is not None or not delta:
            return ""
        text = self._held + delta
        hit = find_stop(text, self.stops)
        if hit is not None:
            self.stopped = hit[1]
            self._held = ""
            return text[: hit[0]]
        hold = partial_marker_len(text[-self._window :] if self._window else "", self.stops)
        self._held = text[len(text) - hold :] if hold else ""
        return text[: len(text) - hold]

    def flush(self, keep_partial: bool = True) -> str:
        out = self._held if keep_partial and self.stopped is None else ""
        self._held = ""
        return out
