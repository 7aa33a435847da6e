"""What the page receives: agent `Step`s and streamed model text as plain JSON events.

The mapping is deliberately thin: a step is sent as its own fields (`Step.model_dump`), so a field or a step
kind the agent gains later (reasoning, say) reaches the page without a change here; the page shows what it
knows and ignores the rest. Events of one conversation are numbered (`seq`) so a reloaded page can replay
them and a reconnecting one can ask for what it missed.

| type     | when                                   | fields                                            |
|----------|----------------------------------------|---------------------------------------------------|
| user     | the user sent a message                | text, files (names uploaded since the last one)   |
| upload   | a file was put in the work dir         | file {name, size, binary, url}                    |
| status   | the run waits (the model is busy)      | text                                              |
| delta    | the model wrote more text this turn    | text (raw model output, shown as a draft)         |
| step     | the agent finished an event            | the Step's fields (kind, index, message, ...)     |
| files    | a tool step left new or changed files  | files [{name, size, binary, url, image}] (the     |
|          |                                        | first 50), more (how many were left out)          |
| error    | the run failed                         | message                                           |
| done     | the run ended                          | status: final, stopped, cancelled or error        |
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qwen_agent.schema import Step

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp"}
_SNIFF_BYTES = 8192


def step_event(step: Step) -> dict[str, Any]:
    # the model's raw text (the step's, and the copy its message keeps for the prompt cache) is not for the page
    return {"type": "step", **step.model_dump(mode="json", exclude={"raw": True, "message": {"raw_text"}})}


def stored_event(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    """A record of the conversation store as the page gets it: a step as `step_event` sends it live."""
    if kind == "step":
        return step_event(Step.model_validate(data))
    return {**data, "type": kind}


@dataclass(frozen=True)
class FileInfo:
    """A file in a conversation's work dir, as the page links it."""

    name: str
    size: int
    binary: bool

    def to_json(self, conversation_id: str) -> dict[str, Any]:
        url = f"/ui/api/conversations/{conversation_id}/files/{quote(self.name)}"
        image = Path(self.name).suffix.lower() in IMAGE_SUFFIXES
        return {"name": self.name, "size": self.size, "binary": self.binary, "url": url, "image": image}


def is_binary(head: bytes) -> bool:
    """Whether bytes look like a binary file: a NUL byte, or not UTF-8 (a cut multi-byte tail forgiven)."""
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start < len(head) - 3
    return False


def snapshot(work_dir: Path) -> dict[str, tuple[int, int]]:
    """{relative name: (size, mtime_ns)} of the regular files under `work_dir`, hidden ones left out."""
    out: dict[str, tuple[int, int]] = {}
    for path in work_dir.rglob("*"):
        rel = path.relative_to(work_dir)
        if any(part.startswith(".") for part in rel.parts) or path.is_symlink() or not path.is_file():
            continue
        try:
            st = path.stat()
        except OSError:  # removed meanwhile by code still running in the kernel
            continue
        out[rel.as_posix()] = (st.st_size, st.st_mtime_ns)
    return out


def changed_files(work_dir: Path, before: dict[str, tuple[int, int]]) -> list[FileInfo]:
    """Files that are new or changed since `before` (a `snapshot`), sorted by name."""
    after = snapshot(work_dir)
    out = []
    for name, (size, _) in sorted(after.items()):
        if before.get(name) != after[name]:
            try:
                with (work_dir / name).open("rb") as f:
                    out.append(FileInfo(name, size, is_binary(f.read(_SNIFF_BYTES))))
            except OSError:
                continue
    return out
