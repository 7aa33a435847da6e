"""Splitting a Qwen model's `<think>...</think>` reasoning from the rest of its output.

Two ways a turn can start, set by the format's `think_opened` flag:
- closed (Qwen3 hybrid, QwQ's first template): the model writes `<think>` itself. Only a `<think>` at the very
  start of the output (after whitespace) opens reasoning; without one the whole output is the answer.
- opened (Qwen3-Thinking-2507, Qwen3.5, later QwQ templates): the prompt already ends with `<think>`, so the
  output holds only `</think>`; everything before it is reasoning.

A lone `</think>` (no `<think>` before it, no call marker before it) ends reasoning in either case: a thinking
model whose prompt opened the block writes exactly that, and whoever reads it (a server in front of the model)
may not know the template. While streaming, the text before it first looks like an answer; a reader that showed
it starts its content over at the close (`lone_close` says where).

Inside reasoning nothing is a tool call. When `</think>` never comes, a call marker (`<tool_call>`) ends the
reasoning: the model started acting without closing its thoughts. An output cut off mid-thought is all reasoning.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"


@dataclass(frozen=True)
class ThinkSplit:
    """The reasoning text, and where the rest of the output (answer and calls) begins."""

    reasoning: str
    body_start: int


def split_thinking(
    text: str, *, opened: bool, call_markers: Sequence[str], final: bool = True
) -> ThinkSplit | None:
    """Where reasoning ends in `text`. With `final=False` (text still streaming) returns None while more text
    could still change the answer."""
    if opened:
        return _split_at_close(text, 0, call_markers, final)
    lead = len(text) - len(text.lstrip())
    rest = text[lead:]
    if rest.startswith(THINK_OPEN):
        return _split_at_close(text, lead + len(THINK_OPEN), call_markers, final)
    if not final and THINK_OPEN.startswith(rest):  # empty or a partial "<thi": may still open reasoning
        return None
    close = lone_close(text, call_markers)
    if close is not None:
        return ThinkSplit(_clean(text[:close]), close + len(THINK_CLOSE))
    return ThinkSplit("", 0)


def lone_close(text: str, call_markers: Sequence[str]) -> int | None:
    """Where a `</think>` with no `<think>` before it stands in `text`, when no call marker comes before it
    (a `</think>` after a call's start belongs to the call's text); None when there is none."""
    close = text.find(THINK_CLOSE)
    if close == -1 or THINK_OPEN in text[:close] or any(m in text[:close] for m in call_markers):
        return None
    return close


def _split_at_close(text: str, start: int, call_markers: Sequence[str], final: bool) -> ThinkSplit | None:
    close = text.find(THINK_CLOSE, start)
    if close != -1:
        return ThinkSplit(_clean(text[start:close]), close + len(THINK_CLOSE))
    if not final:
        return None
    found = [i for i in (text.find(m, start) for m in call_markers) if i != -1]
    end = min(found) if found else len(text)
    return ThinkSplit(_clean(text[start:end]), end)


def _clean(reasoning: str) -> str:
    """Reasoning without the surrounding blank lines, and without a `<think>` the model repeated."""
    reasoning = reasoning.strip()
    return reasoning[len(THINK_OPEN):].strip() if reasoning.startswith(THINK_OPEN) else reasoning
