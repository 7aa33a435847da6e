"""Reading the JSON-like objects real models write: JSON, json5, Python dict literals, ```json fences,
trailing prose after the object, and objects whose closing braces were never written."""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import json5

_JOINED_STRINGS = re.compile(r'(?<!\\)"\s*\+\s*"')
_FENCE_RE = re.compile(r"```[A-Za-z0-9_+-]*[ \t]*\n?(.*?)(?:\n?[ \t]*```|$)", re.DOTALL)


def strip_code_fence(text: str) -> str:
    """The inside of the first ```lang ... ``` block (closed or not), or `text` unchanged."""
    m = _FENCE_RE.search(text)
    return m.group(1) if m and text.lstrip().startswith("```") else text


class _BraceScanner:
    """Tracks brace depth through text, ignoring braces inside '...' or "..." string literals."""

    def __init__(self) -> None:
        self.depth = 0
        self.quote: str | None = None
        self._escaped = False

    def feed(self, ch: str) -> bool:
        """Advance over `ch`; True when it was a brace outside any string."""
        if self.quote:
            if self._escaped:
                self._escaped = False
            elif ch == "\\":
                self._escaped = True
            elif ch == self.quote:
                self.quote = None
            return False
        if ch in "\"'":
            self.quote = ch
            return False
        if ch == "{":
            self.depth += 1
            return True
        if ch == "}":
            self.depth -= 1
            return True
        return False


def object_span(text: str) -> tuple[int, int] | None:
    """(start, end) of the first balanced `{...}` in `text`, skipping braces inside strings."""
    start = text.find("{")
    if start == -1:
        return None
    scanner = _BraceScanner()
    for i in range(start, len(text)):
        if scanner.feed(text[i]) and scanner.depth == 0:
            return start, i + 1
    return None


def loads_value(text: str) -> Any:
    """A JSON/json5/Python literal value, or raise ValueError."""
    try:
        # the common case, and ~100x faster than json5's pure-Python parser; strict=False lets strings hold raw
        # newlines and tabs, as models write multi-line code inside a JSON string
        return json.loads(text, strict=False)
    except ValueError:
        pass
    try:
        return json5.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as e:
        joined = _JOINED_STRINGS.sub("", text)
        if joined != text:  # "a" + "b": JavaScript-style concatenation, as small models write long code
            return loads_value(joined)
        raise ValueError(f"not a JSON or Python literal: {e}") from None


def loads_object(text: str) -> dict[str, Any] | None:
    """The first object `text` holds, read as tolerantly as is safe; None when there is none."""
    body = strip_code_fence(text.strip()).strip()
    if not body:
        return None
    candidates = [body]
    span = object_span(body)
    if span is not None:
        candidates.append(body[span[0] : span[1]])
    elif body.startswith("{"):
        candidates.append(close_braces(body))
    for candidate in candidates:
        try:
            value = loads_value(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def close_braces(text: str) -> str:
    """`text` with the braces and one open string it left open closed, for outputs cut off mid-object."""
    scanner = _BraceScanner()
    for ch in text:
        scanner.feed(ch)
    return text + (scanner.quote or "") + "}" * max(scanner.depth, 0)
