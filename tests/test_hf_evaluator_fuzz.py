"""Property-based fuzzing of the restricted evaluator with hostile expression trees and arbitrary text.

Properties: `evaluate` never raises, never lets a snippet create the sentinel file, and whenever the snippet
contains a forbidden construct (every node of the generated trees is evaluated, so the construct is reached
unless an earlier error stops the run) the result is an error message.
"""

from __future__ import annotations

import ast
import tempfile
import warnings
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_agent.hf_agent import evaluate

SENTINEL = Path(tempfile.mkdtemp(prefix="hf-eval-fuzz-")) / "escaped"
FORBIDDEN = (ast.Attribute, ast.Lambda, ast.GeneratorExp, ast.ListComp, ast.SetComp, ast.DictComp, ast.Import,
             ast.ImportFrom, ast.While, ast.FunctionDef, ast.ClassDef, ast.NamedExpr, ast.Starred, ast.Try,
             ast.With, ast.Global, ast.Await, ast.Yield)


def echo(text: object = "") -> str:
    return f"echo:{text}"


ATOMS = st.sampled_from([
    "text", "echo", "print", "open", "eval", "exec", "getattr", "__import__", "__builtins__", "globals",
    "vars", "type", "object", "'{0.__class__}'", "'{x.__globals__}'", f"'{SENTINEL}'", "10**10", "10**9",
    "'a'", "1", "()", "[]", "{}", "echo('x')", "None", "range(10**9)",
])
DUNDERS = st.sampled_from(["__class__", "__globals__", "__subclasses__", "__mro__", "__dict__", "__code__",
                           "__builtins__", "__init__", "gi_frame", "f_globals", "format", "format_map",
                           "join", "__reduce__", "__getattribute__"])


def _combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda a, d: f"{a}.{d}", children, DUNDERS),
        st.builds(lambda f, a: f"{f}({a})", st.sampled_from(["echo", "open", "str", "print", "len", "eval"]),
                  children),
        st.builds(lambda a, b: f"{a}({b})", children, children),
        st.builds(lambda a, b: f"{a}[{b}]", children, children),
        st.builds(lambda a, b: f"({a} * {b})", children, children),
        st.builds(lambda a, b: f"({a} ** {b})", children, children),
        st.builds(lambda a, b: f"({a} + {b})", children, children),
        st.builds(lambda a: f"f'{{{a}}}'", children),
        st.builds(lambda a: f"f'{{{a}!r}}'", children),
        st.builds(lambda a, b: f"f'{{{a}:{{{b}}}}}'", children, children),
        st.builds(lambda a: f"(lambda: {a})()", children),
        st.builds(lambda a: f"[x for x in {a}]", children),
        st.builds(lambda a: f"list(x for x in {a})", children),
        st.builds(lambda a: f"[{a}, {a}]", children),
        st.builds(lambda a: f"{{'k': {a}}}", children),
    )


EXPRESSIONS = st.recursive(ATOMS, _combine, max_leaves=8)
STATEMENTS = st.one_of(
    EXPRESSIONS,
    st.builds(lambda e: f"x = {e}", EXPRESSIONS),
    st.builds(lambda e: f"for i in {e}:\n    y = i", EXPRESSIONS),
    st.builds(lambda e: f"while {e}:\n    pass", EXPRESSIONS),
    st.builds(lambda e: f"import os\n{e}", EXPRESSIONS),
)


def _check(code: str) -> None:
    state = {"text": "hi"}
    result = evaluate(code, {"echo": echo}, state)  # must not raise
    assert not SENTINEL.exists(), code
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        assert result.error is not None
        return
    if any(isinstance(node, FORBIDDEN) for node in ast.walk(tree)):
        assert result.error is not None, f"forbidden construct ran: {code!r} -> {result.value!r}"
    if result.error is not None:
        assert isinstance(result.error, str) and result.error_kind in ("syntax", "interpreter", "runtime")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STATEMENTS)
def test_hostile_trees_never_escape(code: str) -> None:
    _check(code)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_text_never_raises(code: str) -> None:
    _check(code)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(["(", ")", "[", "]", "'", "{", "}", "f'", ".", "__class__", "*", "**", "10",
                                 "echo", "text", ":", "!r", ",", "=", "\n", " ", "lambda", "for", "in", "if"]),
                max_size=60).map("".join))
def test_token_soup_never_raises(code: str) -> None:
    _check(code)
