"""Pure parts of the interpreter and the tool: no kernel."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from qwen_agent.errors import ConfigurationError, ToolArgumentError
from qwen_agent.interpreter import ErrorInfo, ExecutionResult, SandboxConfig
from qwen_agent.interpreter.result import strip_ansi
from qwen_agent.tools.code_interpreter import CodeInterpreter, extract_code


def test_strip_ansi_removes_colours_and_keeps_text():
    raw = "\x1b[0;31mNameError\x1b[0m: name \x1b[1;32m'x'\x1b[0m is not defined"
    assert strip_ansi(raw) == "NameError: name 'x' is not defined"


def test_to_text_keeps_order_and_shows_images_relative(tmp_path: Path):
    result = ExecutionResult(
        status="error",
        streams=[("stdout", "a\n"), ("stderr", "warn\n"), ("stdout", "b\n")],
        result="42",
        images=[tmp_path / "figures" / "fig-1.png"],
        error=ErrorInfo("ValueError", "bad", ["\x1b[31mValueError\x1b[0m: bad"]),
        work_dir=tmp_path,
    )
    assert result.stdout == "a\nb\n" and result.stderr == "warn\n"
    assert result.to_text() == "a\nwarn\nb\n42\n![fig-1](figures/fig-1.png)\nValueError: bad"


def test_to_text_of_silent_success_says_so():
    assert ExecutionResult(status="ok").to_text() == "(no output)"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"code": "print(1)"}', "print(1)"),
        ("{'code': 'x = 1'}", "x = 1"),  # json5
        ("print(2)", "print(2)"),
        ("```py\nprint(3)\n```", "print(3)\n"),
        ("Let me run:\n```python\nd = {'a': 1}\n```\nthen look.", "d = {'a': 1}\n"),
        ('{"code": "```py\\nprint(4)\\n```"}', "print(4)\n"),
        ('d = {"a": 1}\nprint(d)', 'd = {"a": 1}\nprint(d)'),  # raw code holding a dict literal
    ],
)
def test_extract_code_accepts_json_raw_and_fenced(text: str, code: str):
    assert extract_code(text) == code


@pytest.mark.parametrize("text", ['{"cmd": "print(1)"}', "   ", "```py\n```"])
def test_extract_code_rejects_what_has_no_code(text: str):
    with pytest.raises(ToolArgumentError):
        extract_code(text)


def test_tool_rejects_bad_settings_without_starting_a_kernel():
    with pytest.raises(ConfigurationError):
        CodeInterpreter(timeout=0)
    with pytest.raises(ConfigurationError):
        CodeInterpreter(max_output_chars=10)
    tool = CodeInterpreter()
    with pytest.raises(ToolArgumentError):
        tool.call({"code": 5})
    assert tool._session is None  # nothing started for a bad call
    tool.close()


@pytest.mark.parametrize(
    "kwargs",
    [{"level": "paranoid"}, {"memory_mb": 0}, {"max_processes": 2}, {"max_output_bytes": 10},
     {"interrupt_grace": 0}, {"cpu_seconds": -1}],
)
def test_sandbox_config_rejects_bad_values(kwargs):
    with pytest.raises(ConfigurationError):
        SandboxConfig(**kwargs)


def test_importing_the_package_starts_nothing_heavy():
    import subprocess

    code = ("import sys, qwen_agent, qwen_agent.interpreter, qwen_agent.tools.code_interpreter;"
            "print(any(m in sys.modules for m in ('jupyter_client', 'zmq', 'matplotlib')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2], check=True).stdout
    assert out.strip() == "False"


def test_auto_level_falls_back_with_one_warning(monkeypatch):
    import warnings

    from qwen_agent.interpreter import sandbox

    monkeypatch.setattr(sandbox, "available_levels", lambda: ("rlimits", "none"))
    monkeypatch.setattr(sandbox, "_warned", set())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert sandbox.resolve_level(SandboxConfig()) == "rlimits"
        assert sandbox.resolve_level(SandboxConfig()) == "rlimits"
    assert len(caught) == 1 and "bubblewrap" in str(caught[0].message)
    with pytest.raises(ConfigurationError, match="bubblewrap"):
        sandbox.resolve_level(SandboxConfig(level="bwrap"))
