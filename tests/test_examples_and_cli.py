"""Each example and the CLI, run as a user would, as subprocesses against a scripted server on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedOpenAIServer

REPO = Path(__file__).resolve().parents[1]


def _run(args: list[str], base_url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QWEN_AGENT_BASE_URL": base_url, "QWEN_AGENT_MODEL": "scripted", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_example_custom_tool() -> None:
    script = ['Action: get_weather\nAction Input: {"city": "Hangzhou"}', "Final Answer: Sunny and 26C."]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/custom_tool.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Sunny and 26C."
    assert "Hangzhou: sunny, 26 celsius" in server.requests[1]["messages"][-1]["content"]


def test_example_multi_turn_chat() -> None:
    script = ['Action: unit_price\nAction Input: {"item": "apple"}', "Final Answer: 3.5 yuan.",
              "Final Answer: 17.5 yuan."]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/multi_turn_chat.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert "A: 3.5 yuan." in out.stdout and "A: 17.5 yuan." in out.stdout
    roles = [m["role"] for m in server.requests[2]["messages"]]
    assert roles == ["system", "user", "assistant", "user"]


def test_example_streaming_steps() -> None:
    script = ['Action: multiply\nAction Input: {"a": 12.5, "b": 8}', "Final Answer: 100"]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/streaming_steps.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['-> multiply({"a": 12.5, "b": 8})', "<- 100.0", "== 100"]


def test_cli_run_prints_steps() -> None:
    script = ["Thought: just answer\nFinal Answer: Hi!"]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["-m", "qwen_agent", "run", "--model", "cli-model", "hello"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Final Answer: Hi!"
    assert server.requests[0]["model"] == "cli-model"


def test_cli_chat_carries_history() -> None:
    with ScriptedOpenAIServer(["Final Answer: one", "Final Answer: two"]) as server:
        out = _run(["-m", "qwen_agent", "chat"], server.base_url, stdin="first\nsecond\n\n")
    assert out.returncode == 0, out.stderr
    assert "Final Answer: one" in out.stdout and "Final Answer: two" in out.stdout
    assert [m["role"] for m in server.requests[1]["messages"]] == ["user", "assistant", "user"]


def test_cli_server_down_is_a_clear_error() -> None:
    out = _run(["-m", "qwen_agent", "run", "hello"], "http://127.0.0.1:9/v1")
    assert out.returncode == 1
    assert "error: cannot reach the model server at http://127.0.0.1:9/v1" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("argv", [["-m", "qwen_agent"], ["-m", "qwen_agent", "run", "q", "--tool", "nope"]])
def test_cli_usage_errors(argv: list[str]) -> None:
    out = _run(argv, "http://127.0.0.1:9/v1")
    assert out.returncode == 2
