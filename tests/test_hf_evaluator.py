"""The restricted evaluator: what it allows computes the right thing; a named corpus of escapes all fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_agent.hf_agent import InterpreterError, InterpretorError, Limits, evaluate


def echo(text: str, suffix: str = "!") -> str:
    return f"{text}{suffix}"


def failing(text: str) -> str:
    raise ValueError(f"cannot handle {text}")


TOOLS = {"echo": echo, "failing": failing}


# --- what is allowed -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("x = echo(text)", "hi!"),
        ("echo(text, suffix='?')", "hi?"),
        ("a, b = 1, 2\na + b * 3", 7),
        ("x = [1, 2, 3]\nx[1:]", [2, 3]),
        ("d = {'k': 'v'}\nd['k']", "v"),
        ("f'{text!r} has {len(text)} letters: {3.14159:.2f}'", "'hi' has 2 letters: 3.14"),
        ("total = 0\nfor i in range(5):\n    total += i\ntotal", 10),
        ("out = ''\nfor c in 'abc':\n    if c == 'b':\n        continue\n    out = out + c\nout", "ac"),
        ("for i in [1, 2, 3]:\n    if i > 1:\n        break\n    last = i\nlast", 1),
        ("x = 5\ny = 'big' if x > 3 else 'small'\ny", "big"),
        ("1 < 2 < 3", True),
        ("not (1 in [2, 3]) and 'i' in text", True),
        ("str(int('41') + 1)", "42"),
        ("sorted([3, 1, 2])", [1, 2, 3]),
        ("-(2 ** 10) // 3 % 7", 1),
        ("x = [0, 0]\nx[1] = echo('a')\nx", [0, "a!"]),
    ],
)
def test_allowed_code_computes_the_right_value(code: str, expected: object) -> None:
    result = evaluate(code, TOOLS, {"text": "hi"})
    assert result.error is None, result.error
    assert result.value == expected


def test_state_is_updated_in_place_and_print_is_captured() -> None:
    state = {"text": "hi"}
    result = evaluate("a = echo(text)\nprint('got', a)\nb = a + a", TOOLS, state)
    assert state == {"text": "hi", "a": "hi!", "b": "hi!hi!"}
    assert result.state is state
    assert result.output == "got hi!\n"
    assert result.value == "hi!hi!"  # the last statement with a value; print() has none


def test_fuzzy_name_lookup_matches_transformers_and_can_be_disabled() -> None:
    state = {"translated_text": "bonjour"}
    assert evaluate("echo(translated)", TOOLS, dict(state)).value == "bonjour!"
    strict = evaluate("echo(translated)", TOOLS, dict(state), fuzzy_names=False)
    assert strict.error_kind == "interpreter"
    assert "`translated` is not defined" in strict.error


def test_a_refused_statement_keeps_the_partial_result() -> None:
    result = evaluate("a = echo('x')\na.upper()\nb = 2", TOOLS)
    assert result.error_kind == "interpreter"
    assert "statement 2 (line 2)" in result.error and "tried to call `a.upper`" in result.error
    assert result.value == "x!"
    assert "b" not in result.state  # stopped at the refused statement


def test_tool_errors_and_builtin_errors_are_runtime_errors_with_a_message() -> None:
    tool_error = evaluate("failing('abc')", TOOLS)
    assert tool_error.error_kind == "runtime"
    assert "the tool `failing` raised ValueError: cannot handle abc" in tool_error.error
    assert evaluate("1 / 0", TOOLS).error_kind == "runtime"
    wrong_call = evaluate("echo()", TOOLS)
    assert wrong_call.error_kind == "runtime" and "TypeError" in wrong_call.error
    # found by the fuzzer: a dict indexed by an unhashable key
    unhashable = evaluate("{'k': text}[[text]]", TOOLS, {"text": "hi"})
    assert unhashable.error_kind == "runtime" and "unhashable type: 'list'" in unhashable.error
    assert evaluate("break", TOOLS).error.endswith("'break' outside a loop")


def test_syntax_errors_are_reported_not_raised() -> None:
    result = evaluate("x = = 1", TOOLS)
    assert result.error_kind == "syntax" and "not valid Python" in result.error
    assert evaluate("x = 1\x00", TOOLS).error_kind == "syntax"


def test_error_type_is_interpretor_error_compatible() -> None:
    assert InterpretorError is InterpreterError
    assert issubclass(InterpreterError, ValueError)


# --- hostile corpus ---------------------------------------------------------------------------------------------
# Each snippet tries to escape the allow-list or exhaust the machine. `{p}` is a path the snippet would create
# if it escaped; every case must end with an error message and leave no file behind.
HOSTILE = {
    "import_os": "import os\nos.system('touch {p}')",
    "from_import": "from os import system\nsystem('touch {p}')",
    "dunder_import_call": "__import__('os').system('touch {p}')",
    "open_builtin": "open('{p}', 'w').write('x')",
    "exec_builtin": "exec(\"open('{p}', 'w')\")",
    "eval_builtin": "eval(\"open('{p}', 'w')\")",
    "getattr_builtin": "getattr(echo, '__globals__')['__builtins__']['open']('{p}', 'w')",
    "class_mro_subclasses": "().__class__.__mro__[1].__subclasses__()",
    "tool_globals": "echo.__globals__['__builtins__']['open']('{p}', 'w')",
    "format_attribute_lookup": "'{{0.__class__.__init__.__globals__}}'.format(echo)",
    "format_map": "'{{x.__class__}}'.format_map({{'x': 1}})",
    "fstring_attribute": "f'{{echo.__globals__}}'",
    "fstring_conversion_of_attribute": "f'{{echo.__code__!r}}'",
    "fstring_huge_width": "f'{{1:>{{10**9}}}}'",
    "fstring_field_spec": "f'{{text:{{\"{{0.__class__}}\"}}}}'",
    "attribute_on_tool_result": "r = echo('a')\nr.__class__.__base__.__subclasses__()",
    "method_on_tool_result": "r = echo('a')\nr.join(['{p}'])",
    "lambda": "f = lambda: open('{p}', 'w')\nf()",
    "generator_expression": "g = (open('{p}', 'w') for _ in [1])\nlist(g)",
    "generator_frame": "g = (x for x in [1])\ng.gi_frame.f_globals",
    "list_comprehension": "[open('{p}', 'w') for _ in [1]]",
    "dict_comprehension": "{{k: open('{p}', 'w') for k in [1]}}",
    "function_def_recursion": "def f():\n    return f()\nf()",
    "class_def": "class A:\n    pass",
    "try_except_traceback": "try:\n    1 / 0\nexcept Exception as e:\n    e.__traceback__.tb_frame",
    "with_open": "with open('{p}', 'w') as f:\n    pass",
    "while_loop": "while True:\n    pass",
    "walrus": "(y := open('{p}', 'w'))",
    "starred_call": "echo(*['{p}'])",
    "kwargs_unpack": "echo(**{{'text': '{p}'}})",
    "percent_format_width": "'%*d' % (10**9, 1)",
    "dunder_name": "__builtins__",
    "dunder_assign": "__builtins__ = {{}}",
    "tool_as_value": "f = echo\nf('{p}')",
    "global_statement": "global text",
    "delete_statement": "del text",
    "huge_string_repeat": "'a' * 10**10",
    "huge_list_repeat": "[0] * 10**9",
    "huge_power": "10 ** 10 ** 8",
    "huge_shift": "1 << 10**9",
    "huge_product_loop": "x = 2\nfor i in range(100):\n    x = x * x",
    "nested_repeat_render": "a = ['x' * 1000] * 100\nb = [a] * 100\nc = [b] * 100\nstr(c)",
    "nested_repeat_print": "a = ['x' * 1000] * 100\nb = [a] * 100\nprint(b, b, b)",
    "self_reference": "l = [1]\nl[0] = l\nprint(l)",
    "huge_range_loop": "for i in range(10**9):\n    pass",
    "nested_loops_steps": "for i in range(1000):\n    for j in range(1000):\n        x = i + j",
    "deep_nesting": "x = " + "[" * 100 + "]" * 100,
    "long_binop_chain": "x = " + "+".join(["1"] * 3000),
    "print_huge_sep": "print('a', 'b', sep='x' * 10**6)",
    "sum_of_lists": "a = [[1] * 1000] * 1000\nsum(a, [])",
    "code_too_long": "x = 1\n" * 10_000,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
@pytest.mark.timeout(20)
def test_hostile_snippet_is_refused(name: str, tmp_path: Path) -> None:
    sentinel = tmp_path / "escaped"
    code = HOSTILE[name].format(p=sentinel)
    state = {"text": "hi"}
    result = evaluate(code, TOOLS, state)
    assert not sentinel.exists()
    assert result.error is not None, f"{name} ran without error: value={result.value!r}"
    assert isinstance(result.error, str) and result.error
    assert result.error_kind in ("syntax", "interpreter", "runtime")
    assert "__builtins__" not in state or state["__builtins__"] != {}


def test_the_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 20


def test_large_inputs_and_tool_results_pass_through_but_do_not_grow() -> None:
    def download(url: str) -> str:
        return "x" * 2_000_000  # larger than Limits.max_length

    tools = {"download": download, "echo": echo}
    ok = evaluate("page = download(url)\nhead = page[:5]\nechoed = echo(page, suffix='')", tools, {"url": "u"})
    assert ok.error is None and ok.value == "x" * 2_000_000 and ok.state["head"] == "xxxxx"
    grown = evaluate("page = download(url)\npage + page", tools, {"url": "u"})
    assert grown.error_kind == "interpreter" and "concatenation exceeds" in grown.error
    shown = evaluate("print(download(url))", tools, {"url": "u"})
    assert shown.error_kind == "interpreter" and "rendering this value" in shown.error


def test_limits_are_configurable() -> None:
    tight = Limits(max_iterations=3)
    assert evaluate("for i in range(3):\n    pass", TOOLS, limits=tight).error is None
    result = evaluate("for i in [1, 2, 3, 4]:\n    pass", TOOLS, limits=tight)
    assert result.error_kind == "interpreter" and "limit of 3 iterations" in result.error
