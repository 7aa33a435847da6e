"""transformers 4.35's agent interpreter, reproduced for scoring: the subset it evaluated and how it stopped.

transformers v4.35.2 `tools/python_interpreter.py` (`evaluate`, lines 32-75; `evaluate_ast`, lines 78-137)
walked only these nodes: an assignment (`evaluate_assign`, lines 140-151: one target, read as a plain name, or
several targets unpacked from one value), a call of a plain name among the tools (`evaluate_call`, lines
154-170), constants, dict and list literals, expression statements, `for` over a plain name (lines 244-253),
f-strings (format specs ignored), `if` whose test is one comparison (`evaluate_condition`, lines 197-226),
names (with a difflib fuzzy match, lines 188-194) and subscripts (lines 173-185). Anything else raised its
InterpretorError, which `evaluate` caught per statement: evaluation stopped and the value reached so far was
the result. Any other exception (a tool's ValueError, a tuple target, a non-comparison `if` test) escaped
`evaluate` and `evaluate_code` (`tools/evaluate_agent.py` lines 416-436) and ended the whole benchmark run.

Here the walk is the same; the escaping exceptions are caught and reported as "would have aborted the
original run" (the item's result is None). The only addition is a cap on loop iterations, so that model code
such as `for i in range(10**9)` cannot hang the harness (the original would have hung).
"""

from __future__ import annotations

import ast
import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MAX_ITERATIONS = 100_000


class InterpretorError(ValueError):
    """What transformers 4.35 raised for an unsupported construct (evaluation stops, partial result kept)."""


@dataclass(frozen=True)
class Outcome:
    """The scored result, and why the original run would have stopped here (None: it would not)."""

    value: Any
    aborted: str | None = None


def _silent_print(*args: Any, **kwargs: Any) -> None:
    return None


# `tools/agents.py` BASE_PYTHON_TOOLS (lines 49-56); print is silenced (it only wrote to the console).
BASE_PYTHON_TOOLS: dict[str, Callable[..., Any]] = {
    "print": _silent_print, "range": range, "float": float, "int": int, "bool": bool, "str": str,
}


def evaluate_tf435(code: str, tools: Mapping[str, Callable[..., Any]], state: dict[str, Any]) -> Outcome:
    """Evaluate `code` as transformers 4.35's `evaluate` did; `state` is updated in place."""
    try:
        module = ast.parse(code)
    except (SyntaxError, ValueError):
        return Outcome(None)  # the original printed "not valid" and returned None
    walker = _Walker(tools, state)
    result = None
    for node in module.body:
        try:
            value = walker.visit(node)
        except InterpretorError:
            break
        except Exception as e:  # noqa: BLE001 - escaped the original's evaluate: the run would have stopped
            return Outcome(None, f"{type(e).__name__}: {e}")
        if value is not None:
            result = value
    return Outcome(result)


class _Walker:
    def __init__(self, tools: Mapping[str, Callable[..., Any]], state: dict[str, Any]) -> None:
        self.tools, self.state, self.iterations = tools, state, 0

    def visit(self, node: ast.AST | None) -> Any:
        handler = getattr(self, f"do_{type(node).__name__.lower()}", None)
        if handler is None:
            raise InterpretorError(f"{type(node).__name__} is not supported.")
        return handler(node)

    def body(self, lines: list[ast.stmt]) -> Any:
        result = None
        for line in lines:
            value = self.visit(line)
            if value is not None:
                result = value
        return result

    def do_assign(self, node: ast.Assign) -> Any:
        result = self.visit(node.value)
        if len(node.targets) == 1:
            self.state[_name(node.targets[0])] = result
            return result
        if len(result) != len(node.targets):
            raise InterpretorError(f"Expected {len(node.targets)} values but got {len(result)}.")
        for target, value in zip(node.targets, result, strict=False):
            self.state[_name(target)] = value
        return result

    def do_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in self.tools:
            raise InterpretorError("It is not permitted to evaluate other functions than the provided tools.")
        args = [self.visit(a) for a in node.args]
        kwargs = {k.arg: self.visit(k.value) for k in node.keywords}
        return self.tools[node.func.id](*args, **kwargs)

    def do_constant(self, node: ast.Constant) -> Any:
        return node.value

    def do_dict(self, node: ast.Dict) -> dict[Any, Any]:
        keys = [self.visit(k) for k in node.keys]
        return dict(zip(keys, [self.visit(v) for v in node.values], strict=False))

    def do_expr(self, node: ast.Expr) -> Any:
        return self.visit(node.value)

    def do_for(self, node: ast.For) -> Any:
        result = None
        for item in self.visit(node.iter):
            self.iterations += 1
            if self.iterations > MAX_ITERATIONS:
                raise InterpretorError(f"more than {MAX_ITERATIONS} loop iterations (a cap of this harness)")
            self.state[_name(node.target)] = item
            value = self.body(node.body)
            if value is not None:
                result = value
        return result

    def do_formattedvalue(self, node: ast.FormattedValue) -> Any:
        return self.visit(node.value)

    def do_if(self, node: ast.If) -> Any:
        return self.body(node.body if self.condition(node.test) else node.orelse)

    def condition(self, test: ast.expr) -> bool:
        ops = test.ops  # a test that is not a comparison raised AttributeError in the original
        if len(ops) > 1:
            raise InterpretorError("Cannot evaluate conditions with multiple operators")
        left, right = self.visit(test.left), self.visit(test.comparators[0])
        compare = _COMPARE.get(type(ops[0]))
        if compare is None:
            raise InterpretorError(f"Operator not supported: {ops[0]}")
        return compare(left, right)

    def do_joinedstr(self, node: ast.JoinedStr) -> str:
        return "".join(str(self.visit(v)) for v in node.values)

    def do_list(self, node: ast.List) -> list[Any]:
        return [self.visit(e) for e in node.elts]

    def do_name(self, node: ast.Name) -> Any:
        if node.id in self.state:
            return self.state[node.id]
        close = difflib.get_close_matches(node.id, list(self.state.keys()))
        if close:
            return self.state[close[0]]
        raise InterpretorError(f"The variable `{node.id}` is not defined.")

    def do_subscript(self, node: ast.Subscript) -> Any:
        index, value = self.visit(node.slice), self.visit(node.value)
        if isinstance(value, list | tuple):
            return value[int(index)]
        if index in value:
            return value[index]
        if isinstance(index, str) and isinstance(value, Mapping):
            close = difflib.get_close_matches(index, list(value.keys()))
            if close:
                return value[close[0]]
        raise InterpretorError(f"Could not index {value} with '{index}'.")


def _name(target: ast.expr) -> str:
    """The original read `.id` of every target: anything but a plain name raised AttributeError."""
    if not isinstance(target, ast.Name):
        raise AttributeError(f"'{type(target).__name__}' object has no attribute 'id'")
    return target.id


_COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
    ast.Is: lambda a, b: a is b, ast.IsNot: lambda a, b: a is not b, ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}
