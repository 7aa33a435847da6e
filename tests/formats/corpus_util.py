"""Loading the format corpora: raw model outputs with their hand-checked readings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from qwen_agent.formats.base import ParsedTurn, ToolFormat
from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.formats.qwen3_coder import Qwen3CoderFormat
from qwen_agent.schema import ToolSpec

CORPUS = Path(__file__).resolve().parent / "corpus"
TOOLS = {name: ToolSpec(**spec) for name, spec in json.loads((CORPUS / "tools.json").read_text()).items()}
FORMATS = {"hermes": HermesFormat, "qwen3_coder": Qwen3CoderFormat}


def load_cases(fmt: str) -> list[dict[str, Any]]:
    lines = (CORPUS / f"{fmt}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def tools_of(case: dict[str, Any]) -> list[ToolSpec]:
    return [TOOLS[n] for n in case.get("tools", [])]


def format_for(fmt: str, case: dict[str, Any]) -> ToolFormat:
    return FORMATS[fmt](think_opened=case.get("think_opened", False))


def calls_of(turn: ParsedTurn) -> list[dict[str, Any]]:
    """The calls as {"name", "arguments"} with arguments decoded (kept as text when they are not JSON)."""
    out = []
    for c in turn.tool_calls:
        try:
            args: Any = json.loads(c.arguments)
        except ValueError:
            args = c.arguments
        out.append({"name": c.name, "arguments": args})
    return out


def reading(turn: ParsedTurn) -> dict[str, Any]:
    return {"content": turn.content, "reasoning": turn.reasoning, "calls": calls_of(turn)}


def expected(case: dict[str, Any]) -> dict[str, Any]:
    return {"content": case.get("content", ""), "reasoning": case.get("reasoning", ""), "calls": case.get("calls", [])}
