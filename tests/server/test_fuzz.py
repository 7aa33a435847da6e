"""Fuzz each HTTP app from its own OpenAPI document (see tests/server/fuzz.py), against a real server on 127.0.0.1:
`qwen-agent serve --backend scripted --require-key K`, `qwen-agent mcp-server`, and the web UI's API (in process,
over the scripted model and a code interpreter)."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.server.fuzz import FuzzTarget, fuzz
from tests.server.mcp_document import MCP_DOCUMENT
from tests.ui.ui_document import ui_document

ROOT = Path(__file__).resolve().parents[2]
KEY = "K"
# replies the scripted model cycles through: plain text, a ReAct tool call, a final answer
REPLIES = ["Hello there.", 'Thought: look it up\nAction: f\nAction Input: {"q": "x"}', "Final Answer: done"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_cli(*args: str) -> Iterator[str]:
    """`qwen-agent ARGS --port P` in a subprocess; yields its root URL once it answers HTTP; checks on exit that
    it logged no unhandled error."""
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "qwen_agent.cli", *args, "--port", str(port)],
                                    stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
            try:
                root = f"http://127.0.0.1:{port}"
                _wait_until_up(root, proc)
                yield root
            finally:
                proc.terminate()
                proc.wait(timeout=10)
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and "unhandled error" not in text, text[-4000:]


def _wait_until_up(root: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(root + "/openapi.json", timeout=2)
            return
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def scripted_openai_server() -> Iterator[str]:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "replies.json"
        script.write_text(json.dumps(REPLIES))
        with serve_cli("serve", "--backend", "scripted", "--script", str(script), "--served-model-name", "qwen",
                       "--require-key", KEY, "--max-request-bytes", "65536", "--log-level", "warning") as root:
            yield root


@contextmanager
def mcp_http_server() -> Iterator[str]:
    with serve_cli("mcp-server", "--transport", "http", "--require-key", KEY, "--pool-size", "0",
                   "--timeout", "5") as root:
        yield root


@contextmanager
def ui_app_server() -> Iterator[str]:
    from qwen_agent.llm.scripted import ScriptedLLM
    from qwen_agent.server import ServerThread
    from qwen_agent.tools.code_interpreter import CodeInterpreter
    from qwen_agent.ui import UILimits, create_ui_app
    from tests.ui.conftest import react_agent

    limits = UILimits(max_message_chars=1000, max_upload_bytes=4096)  # so generated bodies reach the limits
    with react_agent(ScriptedLLM(REPLIES, cycle=True), [CodeInterpreter()]) as agent, \
            ServerThread(create_ui_app(agent, limits=limits)) as server:
        yield f"http://127.0.0.1:{server.port}"


def ui_document_of(root: str) -> dict:
    """The UI's document around a conversation the server made for it, and the limits it reports."""
    resp = httpx.post(root + "/ui/api/conversations", headers=UI_HEADERS, timeout=10)
    return ui_document(resp.json()["id"], httpx.get(root + "/ui/api/info", timeout=10).json())


UI_HEADERS = {"X-Requested-By": "qwen-agent-ui"}
TARGETS = [
    FuzzTarget("openai-api", scripted_openai_server, headers={"Authorization": f"Bearer {KEY}"}),
    FuzzTarget("mcp-server", mcp_http_server, schema=MCP_DOCUMENT, headers={"Authorization": f"Bearer {KEY}"}),
    FuzzTarget("ui-api", ui_app_server, schema=ui_document_of, headers=UI_HEADERS),
]


@pytest.mark.slow
@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_from_openapi_schema(target: FuzzTarget):
    with target.serve() as root:
        report = fuzz(root, target, examples=25, budget_s=40)
        if target is TARGETS[0]:  # the process was started with --max-request-bytes 65536
            body = {"model": "qwen", "messages": [{"role": "user", "content": "x" * 70_000}]}
            resp = httpx.post(root + "/v1/chat/completions", json=body, headers=target.headers, timeout=10)
            assert resp.status_code == 413 and "at most 65536 bytes" in resp.json()["error"]["message"]
    print(f"{target.name}: {report}")
    assert report.requests >= 50, report  # the generator did reach the server
    assert not any(status >= 500 for status in report.statuses), report.statuses
    # one connection, reopened only after answers that announced `Connection: close` (or event streams):
    # schemathesis silently resends a request the server dropped, so this count is what shows a drop
    assert 1 <= report.connections <= 1 + report.closed, report


@contextmanager
def _in_process_server() -> Iterator[str]:
    from qwen_agent.llm.scripted import ScriptedLLM
    from qwen_agent.server import ServerThread, create_app

    with ServerThread(create_app(ScriptedLLM(REPLIES, cycle=True), model_name="qwen")) as server:
        yield f"http://127.0.0.1:{server.port}"


def test_fuzz_takes_the_document_itself_for_apps_that_serve_none():
    from qwen_agent.server.openapi import openapi_document

    target = FuzzTarget("document", _in_process_server, schema=openapi_document("qwen"))
    with target.serve() as root:
        report = fuzz(root, target, examples=3, budget_s=20)
    # 4 operations x (positive, negative) x 3 examples, all answered
    assert report.requests == 24 and sum(report.statuses.values()) == 24, report


def test_the_document_states_the_request_fields_the_server_validates():
    """The OpenAPI request schemas are those of the models the server validates with, so the two cannot drift:
    every field the server reads is documented with the same bounds, and `model` is optional (a request naming
    none reaches the only served model)."""
    from qwen_agent.server.openapi import openapi_document
    from qwen_agent.server.protocol import MAX_MESSAGES, MAX_TOOLS, ChatCompletionRequest, CompletionRequest

    schemas = openapi_document("qwen")["components"]["schemas"]
    chat = schemas["ChatCompletionRequest"]
    assert set(ChatCompletionRequest.model_fields) == set(chat["properties"])
    assert set(CompletionRequest.model_fields) == set(schemas["CompletionRequest"]["properties"])
    assert "model" not in chat.get("required", [])
    assert chat["required"] == ["messages"]
    top_p = chat["properties"]["top_p"]["anyOf"][0]
    assert (top_p["exclusiveMinimum"], top_p["maximum"]) == (0.0, 1.0)
    messages = chat["properties"]["messages"]
    assert (messages["minItems"], messages["maxItems"]) == (1, MAX_MESSAGES)
    # validated loosely (read by hand for precise errors), documented as the shapes clients send
    assert [m["$ref"].rsplit("/", 1)[1] for m in messages["items"]["anyOf"]] == [
        "SystemMessage", "UserMessage", "AssistantMessage", "ToolMessage"]
    assert chat["properties"]["tools"]["anyOf"][0]["maxItems"] == MAX_TOOLS


def test_the_document_accepts_what_the_server_accepts():
    """A request the server takes is valid against the document: a tool named by its bare name in
    `tool_choice` (as `ToolChoice.parse` reads it) included."""
    from jsonschema import Draft202012Validator, ValidationError

    from qwen_agent.server.openapi import openapi_document
    from qwen_agent.server.protocol import ChatCompletionRequest

    validator = Draft202012Validator({"$ref": "#/components/schemas/ChatCompletionRequest",
                                      "components": openapi_document("qwen")["components"]})
    body = {"model": "qwen", "messages": [{"role": "user", "content": "weather?"}], "tool_choice": "get_weather",
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
            "stream_options": {"include_usage": True}}
    ChatCompletionRequest.model_validate(body)
    validator.validate(body)
    with pytest.raises(ValidationError, match="should be non-empty"):  # what it refuses, the document refuses
        validator.validate({**body, "messages": []})
