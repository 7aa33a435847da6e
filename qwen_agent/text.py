"""Small text utilities shared by the agent and the tools."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any


def partial_marker_len(text: str, markers: Sequence[str], start: int = 0) -> int:
    """Length of the longest end of `text[start:]` that begins one of `markers` without completing it: text a
    stream may still grow into that marker (a stop string, a call's opening tag, `</think>`), so not to show yet."""
    longest = 0
    room = len(text) - start
    for marker in markers:
        for n in range(min(len(marker) - 1, room), longest, -1):
            if text.endswith(marker[:n]):
                longest = n
                break
    return longest


def truncate_middle(text: str, limit: int) -> str:
    """`text` cut to about `limit` characters, keeping its head and tail and saying how much was cut."""
    if limit <= 0 or len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    cut = len(text) - head - tail
    # Cut at line boundaries when one is near, so the model does not see half a line.
    nl = text.rfind("\n", head - 200, head)
    if nl > 0:
        cut += head - nl
        head = nl
    return f"{text[:head]}\n[... {cut} characters omitted ...]\n{text[len(text) - tail:]}"


def text_of_parts(content: Any, *, sep: str = "", skip: Collection[str] = ()) -> str | None:
    """The text of a message's `content` in OpenAI's shape (a string, None, or a list of parts: strings or
    `{"type": "text", "text": ...}`), the parts joined by `sep`; parts of a type in `skip` are left out.

    Raises:
        ValueError: a part that is not text (an image, audio), naming its type.
    """
    if content is None or isinstance(content, str):
        return content
    if not isinstance(content, list | tuple):
        raise ValueError("content must be a string or a list of text parts")
    parts = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else type(part).__name__
        if isinstance(part, str):
            parts.append(part)
        elif kind == "text":
            parts.append(str(part.get("text", "")))
        elif kind not in skip:
            raise ValueError(f"content part of type {kind!r} is not supported; only text is")
    return sep.join(parts)
