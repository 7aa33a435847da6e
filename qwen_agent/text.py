"""Small text utilities shared by the agent and the tools."""

from __future__ import annotations


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
