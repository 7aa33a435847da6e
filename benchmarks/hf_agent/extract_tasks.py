"""Write the HF Agent evaluation set as JSON from a transformers source file you have.

    python -m benchmarks.extract_hf_agent_tasks path/to/transformers/src/transformers/tools/evaluate_agent.py \\
        -o hf_agent_tasks.json

transformers <= 4.50 ships `src/transformers/tools/evaluate_agent.py` (e.g. `pip download transformers==4.35.2
--no-deps` and unzip, or a git checkout of tag v4.35.2). The file is only parsed with `ast`, never imported or
run: the problems (`EVALUATION_TASKS`, `EVALUATION_CHATS`) are literals, and each fake tool is read from its
`def` (arguments, `if "word" not in arg: raise ...` checks, the f-string it returns) through `TEST_TOOLS`.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROBLEM_FIELDS = ("task", "inputs", "answer")


def extract(source: str) -> dict[str, Any]:
    """The evaluation set of an `evaluate_agent.py` source text, in the layout `load_task_set` reads."""
    tree = ast.parse(source)
    assigned = {t.id: node.value for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)}
    for name in ("EVALUATION_TASKS", "EVALUATION_CHATS", "TEST_TOOLS"):
        if name not in assigned:
            raise ValueError(f"{name} not found: is this transformers' tools/evaluate_agent.py (<= 4.50)?")
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    return {
        "run": [_problem(node) for node in _elements(assigned["EVALUATION_TASKS"])],
        "chat": [[_problem(node) for node in _elements(chat)] for chat in _elements(assigned["EVALUATION_CHATS"])],
        "tools": _tools(assigned["TEST_TOOLS"], functions),
        "_note": "extracted by benchmarks/extract_hf_agent_tasks.py from transformers' evaluate_agent.py",
    }


def _elements(node: ast.expr) -> list[ast.expr]:
    if not isinstance(node, ast.List):
        raise ValueError(f"expected a list literal at line {node.lineno}")
    return node.elts


def _problem(node: ast.expr) -> dict[str, Any]:
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Problem"):
        raise ValueError(f"expected Problem(...) at line {node.lineno}")
    fields = {kw.arg: kw.value for kw in node.keywords if kw.arg in PROBLEM_FIELDS}
    missing = set(PROBLEM_FIELDS) - fields.keys()
    if missing:
        raise ValueError(f"Problem at line {node.lineno} lacks {sorted(missing)} (or is not a literal)")
    try:
        return {name: ast.literal_eval(fields[name]) for name in PROBLEM_FIELDS}
    except ValueError as e:
        raise ValueError(f"Problem at line {node.lineno} is not a plain literal: {e}") from None


def _tools(mapping: ast.expr, functions: dict[str, ast.FunctionDef]) -> dict[str, dict[str, Any]]:
    if not isinstance(mapping, ast.Dict):
        raise ValueError("TEST_TOOLS is not a dict literal")
    tools = {}
    for key, value in zip(mapping.keys, mapping.values, strict=True):
        if not (isinstance(key, ast.Constant) and isinstance(value, ast.Name) and value.id in functions):
            raise ValueError(f"TEST_TOOLS entry at line {mapping.lineno} is not 'name': function")
        tools[key.value] = _tool_spec(functions[value.id])
    return tools


def _tool_spec(func: ast.FunctionDef) -> dict[str, Any]:
    args = [a.arg for a in func.args.args]
    defaults = func.args.defaults
    for i, default in enumerate(defaults, start=len(args) - len(defaults)):
        args[i] = f"{args[i]}={ast.unparse(default)}"
    spec: dict[str, Any] = {"args": args, "returns": _template(func)}
    requires = _requirements(func)
    if requires:
        spec["requires"] = requires
    return spec


def _template(func: ast.FunctionDef) -> str:
    returns = [n for n in ast.walk(func) if isinstance(n, ast.Return) and n.value is not None]
    if len(returns) != 1 or not isinstance(returns[0].value, ast.JoinedStr | ast.Constant):
        raise ValueError(f"fake tool {func.name} does not return one f-string")
    value = returns[0].value
    if isinstance(value, ast.Constant):
        return str(value.value).replace("{", "{{").replace("}", "}}")
    parts = []
    for part in value.values:
        if isinstance(part, ast.Constant):
            parts.append(str(part.value).replace("{", "{{").replace("}", "}}"))
        elif isinstance(part, ast.FormattedValue) and isinstance(part.value, ast.Name):
            parts.append("{" + part.value.id + "}")
        else:
            raise ValueError(f"fake tool {func.name}: unsupported f-string part {ast.unparse(part)}")
    return "".join(parts)


def _requirements(func: ast.FunctionDef) -> dict[str, str]:
    """`if "word" not in arg: raise ...` checks, as {arg: word}."""
    found = {}
    for node in ast.walk(func):
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Compare)):
            continue
        test = node.test
        if (len(test.ops) == 1 and isinstance(test.ops[0], ast.NotIn) and isinstance(test.left, ast.Constant)
                and isinstance(test.comparators[0], ast.Name) and any(isinstance(s, ast.Raise) for s in node.body)):
            found[test.comparators[0].id] = test.left.value
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.extract_hf_agent_tasks", description=__doc__)
    parser.add_argument("source", type=Path, help="transformers' src/transformers/tools/evaluate_agent.py")
    parser.add_argument("-o", "--output", type=Path, default=Path("hf_agent_tasks.json"))
    args = parser.parse_args(argv)
    try:
        data = extract(args.source.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    args.output.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.output}: {len(data['run'])} problems, {len(data['chat'])} conversations, "
          f"{len(data['tools'])} tools")
    return 0


if __name__ == "__main__":
    sys.exit(main())
