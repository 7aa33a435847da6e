"""A restricted evaluator for the Python a HuggingFace-style agent writes: an AST walker with an allow-list.

The model's code is never given to `exec`/`eval`. It is parsed with `ast.parse` and walked node by node; a node
type that is not on the allow-list stops the evaluation with an `InterpreterError` whose message is meant to be
shown to the model. What the walker allows:

- statements: expressions, `=` / `+=` style assignments to names, tuples of names and `x[i]`, `if`/`elif`/
  `else`, `for` over a list, tuple, string, dict or range (with `break` and `continue`), `pass`;
- expressions: constants, names, list/tuple/dict literals, f-strings (simple format specs only), subscripts and
  slices of builtin sequences and dicts, arithmetic, comparisons, `and`/`or`/`not`, conditional expressions;
- calls of a plain name that is one of the given tools or one of the safe builtins (`SAFE_BUILTINS`).

Everything else is refused: imports, attribute access (so no `x.__class__`, no `"{0.__class__}".format`),
lambdas, comprehensions, generators, `while`, function and class definitions, `try`, `with`, `del`, `global`,
`:=`, `*args` / `**kwargs` in calls, `%`-formatting of strings. Every evaluation is bounded: a total number of
walked nodes, iterations per loop, nesting depth, the length of strings and containers it builds, the size of
integers, and the text a value may render to.

Errors never escape as exceptions: `evaluate` returns an `Evaluation` whose `error` is a message for the model
and whose `error_kind` says where it came from ("syntax", "interpreter" for a refused or undefined construct or
an exceeded limit, "runtime" for an exception raised by a tool or a builtin).
"""

from __future__ import annotations

import ast
import difflib
import operator
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from qwen_agent.hf_agent.limits import (
    SIZED_TYPES,
    InterpreterError,
    InterpretorError,
    Limits,
    check_binop_size,
    check_format_spec,
    check_name,
    check_render_size,
    no_starred,
)
from qwen_agent.hf_agent.safe_builtins import SAFE_BUILTINS, bind_builtin

ErrorKind = Literal["syntax", "interpreter", "runtime"]

__all__ = ["SAFE_BUILTINS", "ErrorKind", "Evaluation", "InterpreterError", "InterpretorError", "Limits", "evaluate"]


@dataclass
class Evaluation:
    """What evaluating a snippet gave.

    Attributes:
        value: the value of the last statement that had one (the partial result if evaluation stopped early).
        state: the variables after the run (the same dict that was passed in, updated in place).
        output: what the code printed.
        error: a message for the model, or None if the code ran to the end.
        error_kind: "syntax", "interpreter" or "runtime"; None when `error` is None.
    """

    value: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    error: str | None = None
    error_kind: ErrorKind | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class _RuntimeFailure(Exception):
    """An exception raised by a tool or builtin the code called; carries a message for the model."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow, ast.LShift: operator.lshift,
    ast.RShift: operator.rshift, ast.BitAnd: operator.and_, ast.BitOr: operator.or_, ast.BitXor: operator.xor,
}
_CMPOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}
_UNARYOPS: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert,
}
_INDEXABLE = (str, bytes, list, tuple, dict, range)
_ITERABLE = (str, list, tuple, dict, range)


def evaluate(
    code: str,
    tools: Mapping[str, Callable[..., Any]],
    state: dict[str, Any] | None = None,
    *,
    builtins: Mapping[str, Callable[..., Any]] | None = None,
    limits: Limits | None = None,
    fuzzy_names: bool = True,
) -> Evaluation:
    """Evaluate `code` statement by statement, calling only `tools` and `builtins`.

    Args:
        code: Python source written by the model.
        tools: the functions the code may call, by name.
        state: variables visible to the code; updated in place (chat mode carries it between turns).
        builtins: the builtins the code may call; default `SAFE_BUILTINS`.
        limits: bounds on the evaluation; default `Limits()`.
        fuzzy_names: resolve an unknown variable name to the closest existing one (difflib), as transformers'
            agent interpreter did; the HF Agent benchmark depends on it.

    Returns:
        An `Evaluation`; it never raises for anything the code does.
    """
    state = {} if state is None else state
    walker = _Walker(tools, builtins if builtins is not None else SAFE_BUILTINS, state, limits or Limits(),
                     fuzzy_names)
    result = Evaluation(state=state)
    try:
        module = walker.parse(code)
    except InterpreterError as e:
        result.error, result.error_kind = str(e), "syntax"
        return result
    for index, node in enumerate(module.body):
        value, failure = _run_statement(walker, node)
        if failure is not None:
            result.error_kind, message = failure
            result.error = f"Evaluation stopped at statement {index + 1} (line {node.lineno}): {message}"
            break
        if value is not None:
            result.value = value
    result.output = walker.output()
    return result


def _run_statement(walker: _Walker, node: ast.stmt) -> tuple[Any, tuple[ErrorKind, str] | None]:
    try:
        return walker.statement(node), None
    except _RuntimeFailure as e:
        return None, ("runtime", str(e))
    except (_Break, _Continue) as e:
        return None, ("interpreter", f"'{'break' if isinstance(e, _Break) else 'continue'}' outside a loop")
    except (InterpreterError, RecursionError) as e:
        return None, ("interpreter", str(e) or type(e).__name__)
    except Exception as e:  # a safety net for an operation the walker failed to guard
        return None, ("runtime", f"{type(e).__name__}: {e}")


class _Walker:
    """Walks one snippet; every node goes through `_visit`, which counts steps and depth."""

    def __init__(self, tools: Mapping[str, Callable[..., Any]], builtins: Mapping[str, Callable[..., Any]],
                 state: dict[str, Any], limits: Limits, fuzzy: bool) -> None:
        self.tools = dict(tools)
        self.limits = limits
        self.state = state
        self.fuzzy = fuzzy
        self.steps = 0
        self.depth = 0
        self._printed: list[str] = []
        self._printed_chars = 0
        self.builtins = {name: bind_builtin(fn, self) for name, fn in builtins.items()}

    # --- entry points ------------------------------------------------------------------------------------
    def parse(self, code: str) -> ast.Module:
        if not isinstance(code, str):
            raise InterpreterError(f"code must be a string, got {type(code).__name__}")
        if len(code) > self.limits.max_code_chars:
            raise InterpreterError(f"the code is {len(code)} characters long; the limit is "
                                   f"{self.limits.max_code_chars}")
        try:
            with warnings.catch_warnings():  # model code is data here: no SyntaxWarning on the user's stderr
                warnings.simplefilter("ignore", SyntaxWarning)
                return ast.parse(code)
        except SyntaxError as e:
            raise InterpreterError(f"the code is not valid Python: {e.msg} (line {e.lineno})") from None
        except (ValueError, RecursionError, MemoryError) as e:
            raise InterpreterError(f"the code could not be parsed: {type(e).__name__}") from None

    def statement(self, node: ast.stmt) -> Any:
        return self._visit(node)

    def output(self) -> str:
        return "".join(self._printed)

    def write(self, text: str) -> None:
        room = self.limits.max_output_chars - self._printed_chars
        if room > 0:
            self._printed.append(text[:room])
            self._printed_chars += min(len(text), room)

    # --- dispatch ----------------------------------------------------------------------------------------
    def _visit(self, node: ast.AST) -> Any:
        self.steps += 1
        if self.steps > self.limits.max_steps:
            raise InterpreterError(f"the code took more than {self.limits.max_steps} evaluation steps")
        handler = _HANDLERS.get(type(node))
        if handler is None:
            raise InterpreterError(f"{type(node).__name__} is not supported.")
        self.depth += 1
        try:
            if self.depth > self.limits.max_depth:
                raise InterpreterError(f"the code is nested more than {self.limits.max_depth} levels deep")
            return handler(self, node)
        finally:
            self.depth -= 1

    def block(self, body: list[ast.stmt]) -> Any:
        result = None
        for node in body:
            value = self._visit(node)
            if value is not None:
                result = value
        return result

    def check_size(self, value: Any) -> Any:
        """Refuse a value the code built (operators, builtins) beyond the limits. Inputs and tool results are
        not checked: they may be large, and every operation that would grow them is."""
        if isinstance(value, SIZED_TYPES) and len(value) > self.limits.max_length:
            raise InterpreterError(f"a value of {len(value)} items exceeds the limit of {self.limits.max_length}")
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > self.limits.max_int_bits:
            raise InterpreterError(f"an integer exceeds {self.limits.max_int_bits} bits")
        return value

    def render_guard(self, value: Any) -> None:
        check_render_size(value, self.limits)

    # --- statements --------------------------------------------------------------------------------------
    def do_expr(self, node: ast.Expr) -> Any:
        return self._visit(node.value)

    def do_pass(self, node: ast.Pass) -> None:
        return None

    def do_assign(self, node: ast.Assign) -> Any:
        value = self._visit(node.value)
        for target in node.targets:
            self.assign(target, value)
        return value

    def do_augassign(self, node: ast.AugAssign) -> Any:
        if not isinstance(node.target, ast.Name):
            raise InterpreterError("augmented assignment is only supported on plain names")
        current = self.lookup(node.target.id)
        value = self.binop(node.op, current, self._visit(node.value))
        self.state[node.target.id] = value
        return value

    def assign(self, target: ast.expr, value: Any) -> None:
        if isinstance(target, ast.Name):
            self.state[check_name(target.id)] = value
        elif isinstance(target, ast.Tuple | ast.List):
            items = list(value) if isinstance(value, _ITERABLE) else None
            if items is None or len(items) != len(target.elts):
                raise InterpreterError(f"cannot unpack {type(value).__name__} into {len(target.elts)} names")
            for sub, item in zip(target.elts, items, strict=True):
                self.assign(sub, item)
        elif isinstance(target, ast.Subscript):
            container = self._visit(target.value)
            if not isinstance(container, list | dict):
                raise InterpreterError(f"item assignment is only supported on lists and dicts, "
                                       f"not {type(container).__name__}")
            key = self._visit(target.slice)
            self.guarded(operator.setitem, container, key, value)
        else:
            raise InterpreterError(f"cannot assign to {type(target).__name__}")

    def do_if(self, node: ast.If) -> Any:
        return self.block(node.body if self.truth(self._visit(node.test)) else node.orelse)

    def do_for(self, node: ast.For) -> Any:
        iterable = self._visit(node.iter)
        if not isinstance(iterable, _ITERABLE):
            raise InterpreterError(f"cannot loop over a {type(iterable).__name__}")
        if len(iterable) > self.limits.max_iterations:
            raise InterpreterError(f"a loop over {len(iterable)} items exceeds the limit of "
                                   f"{self.limits.max_iterations} iterations")
        result = None
        for item in list(iterable):
            self.assign(node.target, item)
            try:
                value = self.block(node.body)
            except _Break:
                return result
            except _Continue:
                continue
            if value is not None:
                result = value
        else:
            value = self.block(node.orelse)
            result = value if value is not None else result
        return result

    def do_break(self, node: ast.Break) -> None:
        raise _Break

    def do_continue(self, node: ast.Continue) -> None:
        raise _Continue

    # --- expressions -------------------------------------------------------------------------------------
    def do_constant(self, node: ast.Constant) -> Any:
        return node.value

    def do_name(self, node: ast.Name) -> Any:
        return self.lookup(node.id)

    def lookup(self, name: str) -> Any:
        check_name(name)
        if name in self.state:
            return self.state[name]
        if self.fuzzy:
            close = difflib.get_close_matches(name, [k for k in self.state if isinstance(k, str)])
            if close:
                return self.state[close[0]]
        raise InterpreterError(f"The variable `{name}` is not defined.")

    def do_list(self, node: ast.List) -> list[Any]:
        return [self._visit(no_starred(e)) for e in node.elts]

    def do_tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._visit(no_starred(e)) for e in node.elts)

    def do_dict(self, node: ast.Dict) -> dict[Any, Any]:
        if any(k is None for k in node.keys):
            raise InterpreterError("`**` unpacking in dict literals is not supported")
        keys = [self._visit(k) for k in node.keys]  # type: ignore[arg-type]
        values = [self._visit(v) for v in node.values]
        return self.guarded(lambda: dict(zip(keys, values, strict=True)))

    def do_joinedstr(self, node: ast.JoinedStr) -> str:
        parts: list[str] = []
        total = 0
        for value in node.values:
            part = self._visit(value)
            total += len(part)
            if total > self.limits.max_length:
                raise InterpreterError(f"an f-string exceeds {self.limits.max_length} characters")
            parts.append(part)
        return "".join(parts)

    def do_formattedvalue(self, node: ast.FormattedValue) -> str:
        value = self._visit(node.value)
        self.render_guard(value)
        if node.conversion in (ord("r"), ord("a")):
            value = self.guarded(repr if node.conversion == ord("r") else ascii, value)
        elif node.conversion == ord("s"):
            value = self.guarded(str, value)
        spec = self._visit(node.format_spec) if node.format_spec is not None else ""
        if spec:
            return self.guarded(format, value, check_format_spec(spec, value, self.limits))
        return self.guarded(str, value)

    def do_subscript(self, node: ast.Subscript) -> Any:
        container = self._visit(node.value)
        key = self._visit(node.slice)
        if not isinstance(container, _INDEXABLE):
            raise InterpreterError(f"cannot index a {type(container).__name__}")
        if isinstance(container, dict):
            key = self.dict_key(container, key)
        return self.guarded(operator.getitem, container, key)

    def dict_key(self, container: dict[Any, Any], key: Any) -> Any:
        """`key`, or with fuzzy lookup the closest string key; an unhashable key is a runtime error."""
        if self.guarded(operator.contains, container, key):
            return key
        if isinstance(key, str) and self.fuzzy:
            close = difflib.get_close_matches(key, [k for k in container if isinstance(k, str)])
            if close:
                return close[0]
        raise InterpreterError(f"Could not index the dict with {key!r}.")

    def do_slice(self, node: ast.Slice) -> slice:
        parts = [None if p is None else self._visit(p) for p in (node.lower, node.upper, node.step)]
        if any(p is not None and not isinstance(p, int) for p in parts):
            raise InterpreterError("slice bounds must be integers")
        return slice(*parts)

    def do_binop(self, node: ast.BinOp) -> Any:
        return self.binop(node.op, self._visit(node.left), self._visit(node.right))

    def binop(self, op: ast.operator, left: Any, right: Any) -> Any:
        fn = _BINOPS.get(type(op))
        if fn is None:
            raise InterpreterError(f"the operator {type(op).__name__} is not supported")
        check_binop_size(op, left, right, self.limits)
        return self.check_size(self.guarded(fn, left, right))

    def do_unaryop(self, node: ast.UnaryOp) -> Any:
        return self.guarded(_UNARYOPS[type(node.op)], self._visit(node.operand))

    def do_boolop(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self._visit(operand)
            if self.truth(value) == isinstance(node.op, ast.Or):
                return value
        return value

    def do_compare(self, node: ast.Compare) -> bool:
        left = self._visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self._visit(comparator)
            if not self.truth(self.guarded(_CMPOPS[type(op)], left, right)):
                return False
            left = right
        return True

    def do_ifexp(self, node: ast.IfExp) -> Any:
        return self._visit(node.body if self.truth(self._visit(node.test)) else node.orelse)

    def do_call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            shown = ast.unparse(node.func)[:80]
            raise InterpreterError(f"only tools and a few builtins can be called, by their plain name; methods "
                                   f"and attributes are not supported (tried to call `{shown}`)")
        name = node.func.id
        func = self.tools[name] if name in self.tools else self.builtins.get(name)
        if func is None:
            raise InterpreterError(f"It is not permitted to call {name!r}: it is neither a provided tool nor an "
                                   f"allowed builtin.")
        args = [self._visit(no_starred(a)) for a in node.args]
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise InterpreterError("`**` unpacking in calls is not supported")
            kwargs[kw.arg] = self._visit(kw.value)
        if name in self.tools:
            try:
                return func(*args, **kwargs)
            except Exception as e:  # a tool that raised: the model can fix its call
                raise _RuntimeFailure(f"the tool `{name}` raised {type(e).__name__}: {e}") from None
        return self.check_size(self.guarded(func, *args, **kwargs))

    # --- helpers -----------------------------------------------------------------------------------------
    def truth(self, value: Any) -> bool:
        return bool(self.guarded(bool, value))

    def guarded(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a builtin operation; turn what it raises into a message for the model."""
        try:
            return fn(*args, **kwargs)
        except InterpreterError:
            raise
        except (RecursionError, MemoryError) as e:
            raise InterpreterError(f"{type(e).__name__} while evaluating the code") from None
        except Exception as e:
            raise _RuntimeFailure(f"{type(e).__name__}: {e}") from None


_HANDLERS: dict[type, Callable[[_Walker, Any], Any]] = {
    ast.Expr: _Walker.do_expr, ast.Pass: _Walker.do_pass, ast.Assign: _Walker.do_assign,
    ast.AugAssign: _Walker.do_augassign, ast.If: _Walker.do_if, ast.For: _Walker.do_for,
    ast.Break: _Walker.do_break, ast.Continue: _Walker.do_continue, ast.Constant: _Walker.do_constant,
    ast.Name: _Walker.do_name, ast.List: _Walker.do_list, ast.Tuple: _Walker.do_tuple, ast.Dict: _Walker.do_dict,
    ast.JoinedStr: _Walker.do_joinedstr, ast.FormattedValue: _Walker.do_formattedvalue,
    ast.Subscript: _Walker.do_subscript, ast.Slice: _Walker.do_slice, ast.BinOp: _Walker.do_binop,
    ast.UnaryOp: _Walker.do_unaryop, ast.BoolOp: _Walker.do_boolop, ast.Compare: _Walker.do_compare,
    ast.IfExp: _Walker.do_ifexp, ast.Call: _Walker.do_call,
}
