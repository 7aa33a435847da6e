"""MCP results as observation text: text joined, images and binary blobs saved as files and named."""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import mimetypes
import threading
from pathlib import Path
from typing import Any

_counter = itertools.count(1)
_counter_lock = threading.Lock()


class ContentWriter:
    """Turns MCP content blocks into text, saving binary content under `out_dir`."""

    def __init__(self, out_dir: Path, max_chars: int) -> None:
        self.out_dir = out_dir
        self.max_chars = max_chars

    def result_text(self, result: Any) -> str:
        """The observation for a `CallToolResult` (its `is_error` is the caller's business)."""
        parts = [self.block_text(block) for block in result.content]
        if not parts and result.structured_content is not None:
            parts.append(json.dumps(result.structured_content, ensure_ascii=False))
        return self._bounded("\n".join(p for p in parts if p))

    def block_text(self, block: Any) -> str:
        kind = getattr(block, "type", None)
        if kind == "text":
            return block.text
        if kind in ("image", "audio"):
            path = self.save(block.data, block.mime_type, kind)
            return f"[{kind} saved to {path}]" if isinstance(path, Path) else path
        if kind == "resource":
            return self.resource_text(block.resource)
        if kind == "resource_link":
            return f"[resource {block.uri}" + (f": {block.description}]" if block.description else "]")
        return f"[unsupported MCP content of type {kind!r}]"

    def resource_text(self, contents: Any) -> str:
        text = getattr(contents, "text", None)
        if text is not None:
            return text
        blob = getattr(contents, "blob", None)
        if blob is None:
            return f"[resource {contents.uri}: no content]"
        path = self.save(blob, contents.mime_type or "application/octet-stream", "resource")
        return f"[resource {contents.uri} saved to {path}]" if isinstance(path, Path) else path

    def save(self, data: str, mime_type: str, stem: str) -> Path | str:
        """Decode base64 `data` into a new file; returns its path, or a note when the data is not base64."""
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return f"[{stem} of type {mime_type} could not be decoded: not base64]"
        suffix = mimetypes.guess_extension(mime_type.split(";")[0].strip()) or ".bin"
        with _counter_lock:
            n = next(_counter)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self.out_dir / f"{stem}-{n}{suffix}"
        path.write_bytes(raw)
        return path

    def _bounded(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        half = self.max_chars // 2
        cut = len(text) - 2 * half
        return f"{text[:half]}\n[... {cut} characters of the MCP result cut ...]\n{text[-half:]}"
