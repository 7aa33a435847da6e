"""Each example and the CLI, run as a user would, as subprocesses against a scripted server on 127.0.0.1."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedOpenAIServer

REPO = Path(__file__).resolve().parents[1]


def call(name: str, args: str) -> str:
    """A tool call as Qwen2.5/3 write it (Hermes, the default format on the openai backend)."""
    return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


def _run(args: list[str], base_url: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QWEN_AGENT_BASE_URL": base_url, "QWEN_AGENT_MODEL": "scripted", "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, input=stdin, capture_output=True, text=True,
                          timeout=60)


def test_example_custom_tool() -> None:
    script = [call("get_weather", '{"city": "Hangzhou"}'), "Sunny and 26C."]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/custom_tool.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "Sunny and 26C."
    # the result, then the question again (EpisodePolicy.ask_after_results)
    assert server.requests[1]["messages"][-2]["content"] == "<tool_response>\nHangzhou: sunny, 26 celsius\n</tool_response>"
    assert server.requests[1]["messages"][-1]["content"].endswith("My question: What's the weather in Hangzhou?")


def test_example_multi_turn_chat() -> None:
    script = [call("unit_price", '{"item": "apple"}'), "3.5 yuan.", "17.5 yuan."]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/multi_turn_chat.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert "A: 3.5 yuan." in out.stdout and "A: 17.5 yuan." in out.stdout
    roles = [m["role"] for m in server.requests[2]["messages"]]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]  # the tool step is kept


def test_example_resume_conversation_across_processes(tmp_path) -> None:
    store = tmp_path / "chats.sqlite"
    script = [call("unit_price", '{"item": "apple"}'), "3.5 yuan.", "17.5 yuan."]
    with ScriptedOpenAIServer(script) as server:
        first = _run(["examples/resume_conversation.py", str(store), "How much is one apple?"], server.base_url)
        second = _run(["examples/resume_conversation.py", str(store), "And five of them?"], server.base_url)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.strip() == "(0 earlier messages) A: 3.5 yuan."
    assert second.stdout.strip() == "(4 earlier messages) A: 17.5 yuan."  # user, call, result, answer
    sent = [(m["role"], m.get("content")) for m in server.requests[2]["messages"]]
    assert sent[1] == ("user", "How much is one apple?") and sent[-1] == ("user", "And five of them?")
    assert [r for r, _ in sent] == ["system", "user", "assistant", "user", "assistant", "user"]


def test_example_streaming_steps() -> None:
    script = [call("multiply", '{"a": 12.5, "b": 8}'), "100"]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["examples/streaming_steps.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['-> multiply({"a": 12.5, "b": 8})', "<- 100.0", "== 100"]


def _density_reply(body: dict) -> str:
    """Calls both tools in one turn, then divides their results (population first: call order)."""
    city = next(m["content"] for m in body["messages"] if m["role"] == "user").split(" in ")[-1].rstrip("?")
    results = re.findall(r"<tool_response>\s*(\d+)\s*</tool_response>", body["messages"][-2]["content"])
    if results:
        people, area = (int(r) for r in results)
        return f"{people // area} people per km2."
    return call("population", f'{{"city": "{city}"}}') + "\n" + call("area_km2", f'{{"city": "{city}"}}')


def test_example_async_agents() -> None:
    with ScriptedOpenAIServer(respond=_density_reply) as server:
        out = _run(["examples/async_agents.py"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "Hangzhou: 750 people per km2.", "Beijing: 1250 people per km2.", "Shanghai: 4000 people per km2."]
    assert len(server.requests) == 6


def test_cli_run_streams_the_answer_and_shows_steps_format_neutrally() -> None:
    script = [call("code_interpreter", '{"code": "print(6 * 7)"}'), "<think>\nIt printed 42.\n</think>\n\nIt is 42."]
    with ScriptedOpenAIServer(script) as server:
        out = _run(["-m", "qwen_agent", "run", "--model", "cli-model", "--tool", "code_interpreter", "6*7?"],
                   server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ['-> code_interpreter({"code": "print(6 * 7)"})', "<- code_interpreter: 42",
                                       "It is 42."]
    assert server.requests[0]["model"] == "cli-model" and server.requests[0]["stream"] is True
    assert "<tools>" in server.requests[0]["messages"][0]["content"]


def test_cli_tool_timeout_interrupts_a_hanging_call_and_the_episode_goes_on() -> None:
    script = [call("code_interpreter", '{"code": "import time; time.sleep(60)"}'), "It took too long."]
    start = time.monotonic()
    with ScriptedOpenAIServer(script) as server:
        out = _run(["-m", "qwen_agent", "run", "--tool", "code_interpreter", "--tool-timeout", "2", "sleep"],
                   server.base_url)
    assert out.returncode == 0, out.stderr
    assert "<- code_interpreter: Error: code_interpreter did not finish within 2 s" in out.stdout
    assert out.stdout.splitlines()[-1] == "It took too long."
    assert time.monotonic() - start < 50  # the 60 s sleep was interrupted
    assert "did not finish within 2 s" in server.requests[1]["messages"][-2]["content"]


def test_cli_run_in_react_and_chinese() -> None:
    with ScriptedOpenAIServer(["Thought: 简单\nFinal Answer: 你好！"]) as server:
        out = _run(["-m", "qwen_agent", "run", "--tool-format", "react", "--lang", "zh", "--tool", "code_interpreter",
                    "打个招呼"], server.base_url)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "你好！"
    assert "尽你所能回答以下问题" in server.requests[0]["messages"][-1]["content"]


def test_cli_chat_carries_history() -> None:
    with ScriptedOpenAIServer(["one", "two"]) as server:
        out = _run(["-m", "qwen_agent", "chat"], server.base_url, stdin="first\nsecond\n\n")
    assert out.returncode == 0, out.stderr
    assert "one" in out.stdout and "two" in out.stdout
    assert [m["role"] for m in server.requests[1]["messages"]] == ["system", "user", "assistant", "user"]


def test_cli_transformers_without_model_fails_fast_saying_what_to_pass() -> None:
    env = {k: v for k, v in os.environ.items() if k != "QWEN_AGENT_MODEL"}
    start = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "qwen_agent", "run", "--backend", "transformers", "hi"], cwd=REPO,
                         env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "--backend transformers needs --model" in out.stderr and "qwen-agent fetch-model" in out.stderr
    assert time.monotonic() - start < 20  # no hub retries (it spent 26 s on them before)


def test_cli_server_down_is_a_clear_error() -> None:
    out = _run(["-m", "qwen_agent", "run", "hello"], "http://127.0.0.1:9/v1")
    assert out.returncode == 1
    assert "error: cannot reach the model server at http://127.0.0.1:9/v1" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("argv", [["-m", "qwen_agent"], ["-m", "qwen_agent", "run", "q", "--tool", "nope"]])
def test_cli_usage_errors(argv: list[str]) -> None:
    out = _run(argv, "http://127.0.0.1:9/v1")
    assert out.returncode == 2


# --- the CLI's printer: the streamed answer once, every step on its own line -----------------------------------
TURN = object()  # a model turn that wrote an answer (no call)


def _printed(events: list) -> str:  # noqa: ANN001
    import io

    from qwen_agent.cli import StepPrinter
    from qwen_agent.schema import Message, Step

    out = io.StringIO()
    printer = StepPrinter(out)
    for event in events:
        if event is TURN:
            printer.step(Step(kind="turn", index=0, message=Message.assistant("x")))
        elif isinstance(event, str):
            printer.text(event)
        else:
            kind, decision, answer = event
            printer.step(Step(kind=kind, index=0, decision=decision, reason=decision, answer=answer))
    return out.getvalue()


def test_a_streamed_answer_is_printed_once_and_a_notice_about_it_starts_its_own_line() -> None:
    # the local backend took a repeated call back: the notice follows the streamed answer's turn
    assert _printed(["The result is 5.", TURN, ("notice", "repeat_avoided", None),
                     ("final", None, "The result is 5.")]) == "The result is 5.\n[repeat_avoided]\n"
    assert _printed(["Hi!", TURN, ("final", None, "Hi!")]) == "Hi!\n"
    assert _printed([("final", None, "Not streamed.")]) == "Not streamed.\n"  # a backend that did not stream


def test_an_answer_put_back_to_the_model_is_not_taken_for_the_final_one() -> None:
    printed = _printed(['{"name": "cat_joke"}', TURN, ("notice", "invented_tool", None), "A cat joke.", TURN,
                        ("final", None, "A cat joke.")])
    assert printed == '{"name": "cat_joke"}\n[invented_tool]\nA cat joke.\n'
