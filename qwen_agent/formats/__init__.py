"""Tool-call formats: see `qwen_agent.formats.base` for the seam. `FORMATS` names each one explicitly."""

from __future__ import annotations

from typing import Any

from qwen_agent.formats.base import ParsedTurn, Rendered, ToolChoice, ToolFormat, TurnReader
from qwen_agent.lazy import load_from_table

# format name -> "module:class"; "auto" and "server" are resolved against a backend (`resolve_tool_format`).
FORMATS: dict[str, str] = {
    "react": "qwen_agent.formats.react:ReactFormat",
    "hermes": "qwen_agent.formats.hermes:HermesFormat",
    "qwen3_coder": "qwen_agent.formats.qwen3_coder:Qwen3CoderFormat",
}


def get_format(name: str, **kwargs: Any) -> ToolFormat:
    """The format called `name`, built with `kwargs` (e.g. `get_format("react", lang="zh")`).

    Raises:
        ConfigurationError: `name` is not in `FORMATS`.
    """
    return load_from_table(FORMATS, name, "tool format")(**kwargs)


__all__ = ["FORMATS", "ParsedTurn", "Rendered", "ToolChoice", "ToolFormat", "TurnReader", "get_format"]
