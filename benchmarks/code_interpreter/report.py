"""The code-interpreter benchmark's metrics, table and chart: one row per tool-call format of this run (the
published ReAct protocol and, when asked, the model's native format beside it), then the published rows."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from benchmarks.published import CODE_INTERPRETER_20231206, SOURCE

TASKS = ("math", "visualization", "general")
HEADER = ["Model", "Math↑", "Visualization-Hard↑", "Visualization-Easy↑", "General↑"]
KEYS = ("math", "visualization_hard", "visualization_easy", "general")
NATIVE_NOTE = ("beyond the paper: the model's native tool-call format instead of the published ReAct prompts, "
               "NOT the published protocol; scored by the published rule")

Run = tuple[str, str, str, dict[str, Any]]  # (format, row label in the table, label in the chart, metrics)


def _share(values: Sequence[bool | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(values) if values and len(known) == len(values) else None


def summarise(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The published metrics (shares in 0-1; None when a task was not run or not judged)."""
    by = {t: [r for r in records if r["task"] == t] for t in TASKS}
    vis = by["visualization"]
    general = [r for r in by["general"] if not r.get("negative")]  # the published metric skips them
    failures: dict[str, int] = {}
    for r in general:
        if not r["executable"]:
            reason = r.get("failure") or ("missing code" if r["missing_code"] else "error")
            failures[reason] = failures.get(reason, 0) + 1
    return {
        "math": _share([r["correct"] for r in by["math"]]),
        "math_exact_gold": _share([r.get("correct_exact_gold", r["correct"]) for r in by["math"]]),
        "visualization_hard": _share([r["right"] for r in vis if r["level"] == "hard"]),
        "visualization_easy": _share([r["right"] for r in vis if r["level"] == "easy"]),
        "general": _share([r["executable"] for r in general]),
        "general_failures": failures,
        "counts": {"math": len(by["math"]), "visualization_hard": sum(r["level"] == "hard" for r in vis),
                   "visualization_easy": sum(r["level"] == "easy" for r in vis), "general": len(general)},
        "unjudged_visualization": sum(r["right"] is None for r in vis),
    }


def summarise_formats(records: Sequence[dict[str, Any]], formats: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`summarise` per tool-call format (a record without `tool_format` is a ReAct one)."""
    return {f: summarise([r for r in records if r.get("tool_format", "react") == f]) for f in formats}


def runs_of(label: str, metrics: dict[str, dict[str, Any]]) -> list[Run]:
    """The rows of this run: one per format, labelled so that the native rows cannot pass for published ones."""
    if list(metrics) == ["react"]:
        return [("react", f"**{label}** (this run)", label, metrics["react"])]
    out = []
    for fmt, m in metrics.items():
        if fmt == "react":
            out.append((fmt, f"**{label}**, ReAct (this run; the published protocol)",
                        f"{label}, ReAct (published protocol)", m))
        else:
            out.append((fmt, f"**{label}**, {fmt} (this run; native format, beyond the paper)",
                        f"{label}, {fmt} (native format, beyond the paper)", m))
    return out


def report(runs: Sequence[Run]) -> str:
    """The published table with this run's rows on top, and notes on counts and the opt-in readings."""
    rows = [[name, *(h.pct(m[k]) for k in KEYS)] for _, name, _, m in runs]
    rows += [[name, *(f"{v:.1f}" for v in vals)] for name, vals in CODE_INTERPRETER_20231206.items()]
    notes = ["Math, Visualization: accuracy of code execution results (%); General: executable rate of code (%).",
             f"Published rows: {SOURCE}, on the published 20231206 data."]
    if any(fmt != "react" for fmt, *_ in runs):
        notes.append(f"Native-format rows: {NATIVE_NOTE}.")
    for _, name, _, m in runs:
        notes += [f"{name}: {line}" if len(runs) > 1 else line for line in _run_notes(m)]
    return "## Code interpreter benchmark\n\n" + h.markdown_table(HEADER, rows) + "\n\n" + "\n".join(notes)


def _run_notes(m: dict[str, Any]) -> list[str]:
    notes = ["Cases: " + ", ".join(f"{k} {v}" for k, v in m["counts"].items()) + "."]
    if m["counts"]["math"]:
        notes.append(f"Math with the gold read after `#### ` (`--gold exact`): {h.pct(m['math_exact_gold'])}%.")
    if m["general_failures"]:
        env = sum(m["general_failures"].get(k, 0) for k in ("missing package", "network"))
        notes.append("General, not executable: " + ", ".join(f"{k} {v}" for k, v in m["general_failures"].items())
                     + f" ({env} failed on a missing package or the network, which the original environment, "
                     "with its network and pip installs, might have passed).")
    if m["unjudged_visualization"]:
        notes.append(f"{m['unjudged_visualization']} visualization cases were not judged (no --judge): "
                     "their accuracy is left blank.")
    return notes


def chart(path: Path, runs: Sequence[Run]) -> Path:
    """One grouped bar chart: this run's rows (hatched, one hatch per format) beside the published rows."""
    rows = [(short, [None if m[k] is None else 100 * m[k] for k in KEYS]) for _, _, short, m in runs]
    rows += [(name, list(vals)) for name, vals in CODE_INTERPRETER_20231206.items()]
    title = ("Code interpreter: this run vs published (%)" if len(runs) == 1 else
             "Code interpreter (%): ReAct (published protocol) and\nnative format (beyond the paper) vs published")
    return h.bar_chart(path, title, HEADER[1:], rows, highlight=[short for _, _, short, _ in runs])
