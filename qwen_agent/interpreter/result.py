"""The structured result of one execution and the observation text a model sees."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Status = Literal["ok", "error", "timeout", "died"]

_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    """`text` without ANSI escape sequences (colours, cursor moves)."""
    return _ANSI_RE.sub("", text)


@dataclass(frozen=True)
class ErrorInfo:
    """An exception raised by the executed code."""

    ename: str
    evalue: str
    traceback: list[str]

    @property
    def text(self) -> str:
        """The traceback as plain text (ANSI codes removed), or `ename: evalue` when there is none."""
        if self.traceback:
            return strip_ansi("\n".join(self.traceback)).strip()
        return f"{self.ename}: {self.evalue}"


@dataclass
class ExecutionResult:
    """What happened when a piece of code ran.

    Attributes:
        status: "ok"; "error" (the code raised); "timeout" (the deadline passed; see `state_lost`);
            "died" (the kernel process exited or was killed; a fresh kernel serves the next call).
        streams: ("stdout" | "stderr", text) chunks in the order they were written.
        result: the text form of the last expression's value, or None.
        images: PNG files saved in the session's work dir, one per image output.
        displays: text forms of other rich outputs (display() of objects without an image).
        error: the exception raised by the code, or None.
        state_lost: True when the kernel was replaced, so variables and imports are gone.
        truncated_bytes: output bytes dropped because of the output limit.
        message: what the interpreter did (interrupt, restart), for the caller and the model.
        elapsed: wall time of the call in seconds.
        events: one (kind, text) per output message in arrival order: kind "stdout" / "stderr" (a stream
            chunk), "execute_result" / "display_data" (text form), "image" (the saved PNG's path), "error"
            (the traceback text). For callers that must lay out output exactly as it came (benchmarks).
    """

    status: Status
    streams: list[tuple[str, str]] = field(default_factory=list)
    result: str | None = None
    images: list[Path] = field(default_factory=list)
    displays: list[str] = field(default_factory=list)
    error: ErrorInfo | None = None
    state_lost: bool = False
    truncated_bytes: int = 0
    message: str = ""
    elapsed: float = 0.0
    work_dir: Path | None = None
    events: list[tuple[str, str]] = field(default_factory=list)
    started: bool = field(default=False, repr=False)  # the kernel reported running this code

    @property
    def stdout(self) -> str:
        return "".join(text for name, text in self.streams if name == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(text for name, text in self.streams if name == "stderr")

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def image_markdown(self) -> list[str]:
        """`![fig-N](path)` for each image, with paths relative to the work dir when possible."""
        lines = []
        for n, path in enumerate(self.images, 1):
            shown = path
            if self.work_dir is not None:
                with contextlib.suppress(ValueError):
                    shown = path.relative_to(self.work_dir)
            lines.append(f"![fig-{n}]({shown})")
        return lines

    def to_text(self) -> str:
        """The observation a model sees: output in order, the value, images as markdown, the error."""
        parts = [strip_ansi("".join(text for _, text in self.streams)).rstrip("\n")]
        if self.truncated_bytes:
            parts.append(f"[... {self.truncated_bytes} bytes of output cut: output limit reached ...]")
        parts.extend(self.displays)
        if self.result is not None:
            parts.append(self.result)
        parts.extend(self.image_markdown())
        if self.error is not None:
            parts.append(self.error.text)
        if self.message:
            parts.append(self.message)
        text = "\n".join(p for p in parts if p)
        return text if text else "(no output)"
