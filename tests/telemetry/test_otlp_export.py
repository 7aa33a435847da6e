"""`qwen-agent run`, configured only by OTEL_* variables, exports its episode over OTLP/HTTP to a receiver on
127.0.0.1 that decodes the protobuf it gets. The model is a real server on 127.0.0.1 replaying fixed text."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.server import ServerThread, create_app
from tests.telemetry.otlp_receiver import Receiver, attributes


def run_cli(server: ServerThread, receiver: Receiver, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "QWEN_AGENT_"))}
    env |= {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_SERVICE_NAME": "otel-test"}
    return subprocess.run(
        [sys.executable, "-m", "qwen_agent", "run", "what is 2+2?", "--backend", "openai", "--base-url",
         server.base_url, "--model", "qwen-scripted", "--tool-format", "hermes", *extra],
        capture_output=True, text=True, env=env, timeout=120)


def test_cli_exports_its_episode_over_otlp_http() -> None:
    with ServerThread(create_app(ScriptedLLM(["It is 4."]), model_name="qwen-scripted")) as server, \
            Receiver() as receiver:
        out = run_cli(server, receiver)
    assert out.returncode == 0, out.stderr
    assert "It is 4." in out.stdout
    assert receiver.paths and set(receiver.paths) == {"/v1/traces"}
    spans = {span.name: (resource, span) for resource, span in receiver.spans()}
    assert sorted(spans) == ["chat qwen-scripted", "invoke_agent qwen_agent"]
    resource, root = spans["invoke_agent qwen_agent"]
    assert resource["service.name"] == "otel-test" and resource["scope"] == "qwen_agent"
    _, turn = spans["chat qwen-scripted"]
    assert turn.parent_span_id == root.span_id and turn.trace_id == root.trace_id and not root.parent_span_id
    attrs = attributes(turn)
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.usage.output_tokens"] == len("It is 4.")  # what the server reported
    assert attrs["gen_ai.response.finish_reasons"] == ["stop"]
    assert attrs["qwen_agent.tool_format"] == "hermes"
    assert attributes(root)["qwen_agent.end"] == "final"
    assert turn.end_time_unix_nano - turn.start_time_unix_nano > 0


def test_unknown_exporter_is_a_clear_error() -> None:
    with ServerThread(create_app(ScriptedLLM(["x"]), model_name="qwen-scripted")) as server, \
            Receiver() as receiver:
        env_extra = {"OTEL_TRACES_EXPORTER": "zipkin"}
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "QWEN_AGENT_"))} | env_extra
        out = subprocess.run([sys.executable, "-m", "qwen_agent", "run", "hi", "--backend", "openai",
                              "--base-url", server.base_url, "--model", "qwen-scripted"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 1
    assert "OTEL_TRACES_EXPORTER=zipkin: qwen-agent knows otlp, console and none" in out.stderr
    assert receiver.requests == []


@pytest.mark.kernel
def test_cli_prints_where_the_time_went_on_stderr() -> None:
    call = '<tool_call>\n{"name": "code_interpreter", "arguments": {"code": "print(6 * 7)"}}\n</tool_call>'
    with ServerThread(create_app(ScriptedLLM([call, "Done."]), model_name="qwen-scripted",
                                 count_tokens=lambda text: 100)) as server, Receiver() as receiver:
        out = run_cli(server, receiver, "--tool", "code_interpreter")
    assert out.returncode == 0, out.stderr
    summary = out.stderr.strip().splitlines()[-1]
    # two turns of 100 prompt tokens each (the server's count), len(call) + len("Done.") generated,
    # and one tool call
    head = f"[2 model turns: 200 prompt tokens, {len(call) + 5} generated, "
    assert summary.startswith(head), summary
    assert " | 1 tool call: " in summary and summary.endswith(" s]")
    assert "<- code_interpreter: 42" in out.stdout
    names = sorted(span.name for _, span in receiver.spans())
    assert names == ["chat qwen-scripted", "chat qwen-scripted", "execute_tool code_interpreter",
                     "invoke_agent qwen_agent"]
