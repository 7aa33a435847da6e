"""Extracting the evaluation set from a transformers-style evaluate_agent.py with `ast` (never imported)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.hf_agent.extract_tasks import extract, main
from tests.conftest import BENCH_DATA


def synthetic_source(data: dict) -> str:
    """A file shaped like transformers' evaluate_agent.py, generated from a task set."""
    lines = ["from .python_interpreter import InterpretorError, evaluate", ""]
    for name, spec in data["tools"].items():
        lines.append(f"def fake_{name}({', '.join(spec['args'])}):")
        for arg, word in spec.get("requires", {}).items():
            lines += [f"    if {word!r} not in {arg}:", f"        raise ValueError(f'`{arg}` is not a {word}.')"]
        lines += [f"    return f{spec['returns']!r}", ""]
    lines.append("TEST_TOOLS = {" + ", ".join(f"{n!r}: fake_{n}" for n in data["tools"]) + "}")
    lines.append("class Problem:\n    def __init__(self, task, inputs, answer):\n        self.task = task")

    def problem(p: dict) -> str:
        return f"Problem(task={p['task']!r}, inputs={p['inputs']!r}, answer={p['answer']!r})"

    lines.append("EVALUATION_TASKS = [\n" + ",\n".join(problem(p) for p in data["run"]) + "\n]")
    chats = ",\n".join("[" + ", ".join(problem(p) for p in chat) + "]" for chat in data["chat"])
    lines.append("EVALUATION_CHATS = [\n" + chats + "\n]")
    lines.append("def evaluate_agent(agent):\n    raise SystemExit('must never run')")
    return "\n".join(lines) + "\n"


def test_extraction_round_trips_the_bundled_set(tmp_path: Path) -> None:
    data = json.loads((BENCH_DATA / "hf_agent" / "tasks.json").read_text())
    source = tmp_path / "evaluate_agent.py"
    source.write_text(synthetic_source(data))
    out = tmp_path / "tasks.json"
    assert main([str(source), "-o", str(out)]) == 0
    extracted = json.loads(out.read_text())
    for key in ("run", "chat"):
        assert extracted[key] == data[key]
    # the fake tools come back from their `def`s: arguments, defaults, raising checks and return templates
    assert extracted["tools"] == data["tools"]


def test_a_file_that_is_not_evaluate_agent_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="EVALUATION_TASKS not found"):
        extract("x = 1\n")
    bad = tmp_path / "bad.py"
    bad.write_text("EVALUATION_TASKS = [Problem(task=make(), inputs=[], answer='')]\nEVALUATION_CHATS = []\n"
                   "TEST_TOOLS = {}\n")
    assert main([str(bad), "-o", str(tmp_path / "o.json")]) == 2
    assert "not a plain literal" in capsys.readouterr().err
