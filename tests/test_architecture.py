"""`import qwen_agent` stays light, and imports point one way (see docs/architecture in README)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "qwen_agent"
HEAVY = ["torch", "transformers", "jupyter_client", "langchain_core", "openai", "tiktoken", "fastapi", "smolagents", "mcp",
         "anyio"]

# Layer of each module (lower may not import higher). Modules not listed inherit their package's layer.
LAYERS = {
    "errors": 0, "access": 1, "aio": 1, "lazy": 1, "schema": 1, "jsonish": 1, "text": 1, "prompts": 2, "llm.base": 2, "llm.stops": 2, "tools.base": 2,
    "tools.function": 2, "interpreter": 2, "formats": 2, "grounding": 2, "model_fetch": 1, "conversations": 2,
    "telemetry": 2, "episode_policy": 1, "llm": 3, "llm.local": 3, "tools": 3, "function_calling": 4, "planner": 4,
    "agent": 5, "settings": 5, "llm_options": 5, "hf_agent": 6, "integrations": 6, "server": 6, "mcp_server": 6, "ui": 6, "cli": 7,
}


def test_import_is_light_and_side_effect_free() -> None:
    code = ("import sys, threading, atexit, signal; before = threading.active_count(); import qwen_agent; "
            f"print([m for m in {HEAVY!r} if m in sys.modules], threading.active_count() - before)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] 0"


def _layer_key(module: str) -> str | None:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        key = ".".join(parts[:n])
        if key in LAYERS:
            return key
    return None


def _layer(module: str) -> int | None:
    key = _layer_key(module)
    return LAYERS[key] if key is not None else None


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every `qwen_agent.x` named by `from qwen_agent.x import ...` or `import qwen_agent.x`."""
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return [n.removeprefix("qwen_agent.") for n in names if n.startswith("qwen_agent.")]


def test_dependency_direction() -> None:
    violations = []
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        if module in ("", "__main__"):
            continue
        mine = _layer(module)
        if mine is None:
            violations.append(f"{module} has no layer in LAYERS")
            continue
        for target in _imported_modules(ast.parse(path.read_text())):
            theirs = _layer(target)
            if theirs is None:
                violations.append(f"{module} imports {target}, which has no layer")
            elif theirs > mine and _layer_key(target) != _layer_key(module):
                violations.append(f"{module} (layer {mine}) imports {target} (layer {theirs})")
    assert violations == []


def test_nothing_reads_the_developers_shared_folder() -> None:
    """A user's clone has nothing beside it: the package, benchmarks and tests carry their own data."""
    repo = PKG.parent
    needles = ("../" + "shared", "QWEN_AGENT_" + "SHARED_DIR")  # split so this file does not match itself
    hits = [f"{path.relative_to(repo)}: {needle}"
            for folder in ("qwen_agent", "benchmarks", "tests") for path in (repo / folder).rglob("*")
            if path.is_file() and path.suffix in {".py", ".md", ".json", ".jsonl", ".toml", ".txt", ".cfg"}
            for needle in needles if needle in path.read_text(errors="replace")]
    assert hits == []


def test_every_layer_names_a_module_that_exists() -> None:
    """A module moved or deleted must take its entry in LAYERS with it, or the table describes another tree."""
    stale = [key for key in LAYERS
             if not (PKG / f"{key.replace('.', '/')}.py").is_file() and not (PKG / key.replace(".", "/")).is_dir()]
    assert stale == []
