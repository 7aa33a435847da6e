"""Errors and bounds of the restricted evaluator: the checks that refuse work before it is done."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any

from qwen_agent.errors import QwenAgentError

SIZED_TYPES = (str, bytes, list, tuple, dict)
_PLAIN_SCALARS = (str, int, float, bool)


class InterpreterError(QwenAgentError, ValueError):
    """The restricted evaluator refused the code (unsupported construct, unknown name, exceeded limit)."""


#: transformers spelled it this way; kept so ported code reads the same
InterpretorError = InterpreterError


@dataclass(frozen=True)
class Limits:
    """Bounds on one evaluation. Each is checked before the work it bounds is done, where that is possible."""

    max_code_chars: int = 20_000
    max_steps: int = 100_000  # AST nodes walked in total, loop bodies included
    max_iterations: int = 1_000  # per loop (and the length of a `range`)
    max_depth: int = 60  # nesting of expressions and statements
    max_length: int = 1_000_000  # characters of a string, items of a list/tuple/dict the code builds or renders
    max_int_bits: int = 4_096
    max_output_chars: int = 100_000  # printed text kept


def check_name(name: str) -> str:
    if name.startswith("__"):
        raise InterpreterError(f"names starting with '__' are not allowed ({name})")
    return name


def no_starred(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Starred):
        raise InterpreterError("`*` unpacking is not supported")
    return node


def check_binop_size(op: ast.operator, left: Any, right: Any, limits: Limits) -> None:
    """Refuse an operation whose result would exceed the limits, before computing it."""
    problem = _binop_problem(op, left, right, limits)
    if problem:
        raise InterpreterError(problem)


def _binop_problem(op: ast.operator, left: Any, right: Any, limits: Limits) -> str | None:
    both_ints = _is_int(left) and _is_int(right)
    bits = limits.max_int_bits
    if isinstance(op, ast.Mod) and isinstance(left, str | bytes):
        return "%-formatting of strings is not supported; use an f-string"
    if isinstance(op, ast.Mult):
        seq, count = (left, right) if isinstance(left, SIZED_TYPES) else (right, left)
        if isinstance(seq, SIZED_TYPES) and _is_int(count) and len(seq) * max(count, 0) > limits.max_length:
            return f"repeating a sequence {count} times exceeds the limit of {limits.max_length}"
        if both_ints and left.bit_length() + right.bit_length() > bits:
            return f"the product exceeds {bits} bits"
    if isinstance(op, ast.Add) and isinstance(left, SIZED_TYPES) and isinstance(right, SIZED_TYPES) \
            and len(left) + len(right) > limits.max_length:
        return f"concatenation exceeds the limit of {limits.max_length} items"
    if isinstance(op, ast.Pow) and both_ints and abs(left) > 1 and (right > bits or left.bit_length() * right > bits):
        return f"the power exceeds {bits} bits"
    if isinstance(op, ast.LShift) and both_ints and (right > bits or left.bit_length() + right > bits):
        return f"the shift exceeds {bits} bits"
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_format_spec(spec: str, value: Any, limits: Limits) -> str:
    """Only plain specs on plain values: no nested fields, width and precision bounded by the length limit."""
    if not isinstance(value, _PLAIN_SCALARS):
        raise InterpreterError(f"format specs are only supported on str, int, float and bool values, "
                               f"not {type(value).__name__}")
    digits = "".join(c if c.isdigit() else " " for c in spec).split()
    if any(len(d) > 7 or int(d) > limits.max_length for d in digits):
        raise InterpreterError(f"format spec {spec!r} asks for more than {limits.max_length} characters")
    return spec


def bounded_range(limits: Limits, *args: Any) -> range:
    r = range(*args)
    if len(r) > limits.max_iterations:
        raise InterpreterError(f"range of {len(r)} items exceeds the limit of {limits.max_iterations}")
    return r


def numeric_sum(values: Any, start: int | float = 0) -> int | float:
    if not isinstance(start, int | float) or not all(isinstance(v, int | float) for v in values):
        raise InterpreterError("sum() only adds numbers")
    return sum(values, start)


def check_render_size(value: Any, limits: Limits) -> None:
    """Refuse to turn `value` into text when the text would exceed the length limit: nested containers that
    repeat one another (`[[big] * 100] * 100`) render far larger than they are in memory."""
    budget = limits.max_length
    stack = [value]
    while stack:
        item = stack.pop()
        budget -= len(item) + 1 if isinstance(item, str | bytes) else 2
        if budget < 0:
            raise InterpreterError(f"rendering this value would exceed {limits.max_length} characters")
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
