"""Against the reference server `@modelcontextprotocol/server-everything` (npm; .ci/run installs it)."""

from __future__ import annotations

import json
import time

import pytest

from qwen_agent import Agent, ScriptedLLM
from qwen_agent.errors import MCPToolError
from qwen_agent.tools.mcp import MCPServerConfig, MCPToolset

from .conftest import everything_or_fail, mcp_processes, wait_gone


@pytest.fixture(scope="module")
def everything():
    command = everything_or_fail()
    events: list[tuple] = []
    llm = ScriptedLLM(["Rayleigh scattering."], cycle=True)
    with MCPToolset([MCPServerConfig("everything", command=command, args=("stdio",), timeout=30)],
                    sampling_llm=llm, on_progress=lambda *event: events.append(event)) as toolset:
        yield {t.name: t for t in toolset.tools()}, events, llm, toolset


def test_tools_and_schemas(everything):
    tools = everything[0]
    for name in ("echo", "get-sum", "get-tiny-image", "trigger-long-running-operation", "trigger-sampling-request",
                 "list_resources", "read_resource"):
        assert name in tools
    assert tools["get-sum"].parameters["required"] == ["a", "b"]
    assert tools["echo"].call({"message": "héllo"}) == "Echo: héllo"
    assert tools["get-sum"].call({"a": 19, "b": 23}) == "The sum of 19 and 23 is 42."


def test_image_content_is_saved(everything):
    text = everything[0]["get-tiny-image"].call({})
    path = text.split("[image saved to ")[1].split("]")[0]
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_long_running_operation_reports_progress(everything):
    tools, events, _, _ = everything
    events.clear()
    start = time.monotonic()
    text = tools["trigger-long-running-operation"].call({"duration": 1, "steps": 4})
    assert time.monotonic() - start >= 0.9
    assert text == "Long running operation completed. Duration: 1 seconds, Steps: 4."
    assert [(e[0], e[1], e[2], e[3]) for e in events] == [
        ("everything", "trigger-long-running-operation", float(n), 4.0) for n in range(1, 5)]


def test_sampling_requests_are_answered_by_our_llm(everything):
    tools, _, llm, _ = everything
    text = tools["trigger-sampling-request"].call({"prompt": "Why is the sky blue?", "maxTokens": 30})
    payload = json.loads(text.split("LLM sampling result:", 1)[1])
    assert payload["content"]["text"] == "Rayleigh scattering." and payload["model"] == "scripted"
    messages = llm.calls[-1][0]
    assert messages[-1].role == "user" and messages[-1].content.endswith("Why is the sky blue?")


def test_resources(everything):
    tools = everything[0]
    listing = tools["list_resources"].call({}).splitlines()
    assert len(listing) >= 2
    uri = listing[0].split()[0]
    assert tools["read_resource"].call({"uri": uri}).strip()
    with pytest.raises(MCPToolError):
        tools["read_resource"].call({"uri": "demo://resource/static/document/no-such-file.md"})


def test_an_agent_uses_the_reference_server_through_the_config_format():
    command = everything_or_fail()
    before = set(mcp_processes())
    script = ['Thought: add\nAction: get-sum\nAction Input: {"a": 2, "b": 5}', "Thought: ok\nFinal Answer: 7"]
    config = {"mcpServers": {"everything": {"command": command, "args": ["stdio"]}}}
    with Agent(ScriptedLLM(script), tools=[config]) as agent:
        result = agent.run_result("2 + 5?")
    assert result.steps[1].observation == "The sum of 2 and 5 is 7." and result.answer == "7"
    assert wait_gone(list(set(mcp_processes()) - before)) == []
