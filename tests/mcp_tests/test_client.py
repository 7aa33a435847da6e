"""MCPToolset against a real MCP server written with the SDK (tests/mcp/demo_server.py): stdio, HTTP, SSE."""

from __future__ import annotations

import json
import os
import sys
import time

import pytest

from qwen_agent import Agent, ScriptedLLM, tool
from qwen_agent.errors import ConfigurationError, MCPServerError, MCPToolError
from qwen_agent.tools.mcp import MCPServerConfig, MCPToolset

from .conftest import DEMO, alive, demo_config, hostile_config, mcp_processes, wait_gone

DEMO_TOOLS = ["add", "echo", "fail", "slow", "crash_once", "image", "env", "pid", "list_resources", "read_resource"]


@pytest.fixture(scope="module")
def demo():
    with MCPToolset([demo_config(env={"DEMO_SETTING": "from-config"})]) as toolset:
        yield toolset, {t.name: t for t in toolset.tools()}


def test_stdio_tools_keep_their_names_and_schemas(demo):
    _, tools = demo
    assert list(tools) == DEMO_TOOLS
    add = tools["add"]
    assert add.description == "Add two integers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert add.call('{"a": 2, "b": 40}') == "42"


def test_arguments_are_validated_before_the_server_sees_them(demo):
    from qwen_agent.errors import ToolArgumentError

    with pytest.raises(ToolArgumentError, match="'a' is a required property"):
        demo[1]["add"].call('{"b": 1}')


def test_env_from_the_config_reaches_the_server_and_ours_does_not(demo, monkeypatch):
    tools = demo[1]
    assert tools["env"].call({"name": "DEMO_SETTING"}) == "from-config"
    os.environ.setdefault("QWEN_AGENT_API_KEY", "secret-of-the-agent")
    assert tools["env"].call({"name": "QWEN_AGENT_API_KEY"}) == "(unset)"  # the server started before: clean env


def test_image_is_saved_as_a_file_and_named(demo):
    toolset, tools = demo
    text = tools["image"].call({})
    assert text.startswith("a red pixel\n[image saved to ")
    path = text.split("saved to ")[1].rstrip("]")
    assert path.startswith(str(toolset.output_dir)) and path.endswith(".png")
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_is_error_result_raises_a_tool_error_with_the_servers_text(demo):
    with pytest.raises(MCPToolError, match="cannot do that: because"):
        demo[1]["fail"].call({"reason": "because"})


def test_resources_through_list_and_read_tools(demo):
    tools = demo[1]
    assert tools["list_resources"].call({}) == "demo://greeting  greeting (text/plain): a greeting"
    assert tools["read_resource"].call({"uri": "demo://greeting"}) == "hello from the demo resource"
    with pytest.raises(MCPToolError, match="read_resource"):
        tools["read_resource"].call({"uri": "demo://nothing-here"})


def test_a_call_past_its_deadline_is_cancelled_and_the_server_goes_on():
    with MCPToolset([demo_config(timeout=1.5)]) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        start = time.monotonic()
        with pytest.raises(MCPToolError, match=r"did not answer call_tool within 1.5 s"):
            tools["slow"].call({"seconds": 30})
        assert 1.4 < time.monotonic() - start < 3
        assert tools["add"].call({"a": 1, "b": 1}) == "2"


def test_a_crashed_server_is_restarted_once_and_the_call_retried(tmp_path):
    with MCPToolset([demo_config()]) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        first_pid = int(tools["pid"].call({}))
        assert tools["crash_once"].call({"marker": str(tmp_path / "crashed")}) == "alive again"
        assert (tmp_path / "crashed").read_text() == "crashed"
        second_pid = int(tools["pid"].call({}))
        assert second_pid != first_pid and not alive(first_pid)
        assert toolset._connections["demo"].starts == 2


def test_same_tool_names_are_prefixed_by_server_only_on_a_clash():
    configs = [demo_config("one"), demo_config("two"), hostile_config("badschema")]
    with MCPToolset(configs) as toolset:
        names = [t.name for t in toolset.tools()]
    # echo is offered by all three; the others only by the two demo servers.
    assert names[:3] == ["one-add", "one-echo", "one-fail"]
    assert "two-add" in names and "badschema-echo" in names and "add" not in names and "echo" not in names


def test_http_transport(demo_http_url):
    with MCPToolset({"mcpServers": {"web": {"url": demo_http_url, "timeout": 20}}}) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        assert list(tools) == DEMO_TOOLS
        assert tools["add"].call({"a": 20, "b": 22}) == "42"
        assert tools["read_resource"].call({"uri": "demo://greeting"}) == "hello from the demo resource"
        with pytest.raises(MCPToolError, match="cannot do that"):
            tools["fail"].call({"reason": "x"})


def test_sse_transport_for_older_servers(demo_sse_url):
    with MCPToolset({"mcpServers": {"old": {"url": demo_sse_url}}}) as toolset:
        assert toolset._connections["old"].config.transport == "sse"
        tools = {t.name: t for t in toolset.tools()}
        assert tools["echo"].call({"text": "über"}) == "über"


def test_http_server_that_is_not_there_fails_clearly():
    toolset = MCPToolset([MCPServerConfig("gone", url="http://127.0.0.1:9/mcp", startup_timeout=5)])
    start = time.monotonic()
    with pytest.raises(MCPServerError, match=r"MCP server 'gone' \(http: http://127.0.0.1:9/mcp\) failed to start"):
        toolset.start()
    assert time.monotonic() - start < 6


def test_eager_start_names_the_server_and_its_stderr_tail():
    before = set(mcp_processes())
    toolset = MCPToolset([demo_config("fine"), hostile_config("nostart")])
    with pytest.raises(MCPServerError) as info:
        toolset.start()
    message = str(info.value)
    assert "MCP server 'nostart'" in message and "failed to start" in message
    assert message.endswith("hostile: cannot open database /nonexistent/db.sqlite")
    assert info.value.server == "nostart"
    assert wait_gone(list(set(mcp_processes()) - before)) == []  # the server that did start was stopped too
    with pytest.raises(MCPServerError, match="'nostart'"):  # still usable: a second try says the same
        toolset.start()
    toolset.close()


def test_a_command_that_does_not_exist_fails_clearly():
    toolset = MCPToolset([MCPServerConfig("typo", command="no-such-mcp-server-xyz")])
    with pytest.raises(MCPServerError, match="(?s)'typo'.*cannot start MCP server 'no-such-mcp-server-xyz'"):
        toolset.start()


@tool
def local_double(x: int) -> int:
    """Double a number."""
    return 2 * x


def call(name: str, args: dict) -> str:
    return f"Thought: t\nAction: {name}\nAction Input: {json.dumps(args)}"


def test_agent_takes_mcp_servers_next_to_ordinary_tools_and_starts_them_lazily():
    before = set(mcp_processes())
    llm = ScriptedLLM([call("add", {"a": 2, "b": 3}), call("local_double", {"x": 5}), call("fail", {"reason": "r"}),
                       "Thought: done\nFinal Answer: 5 and 10"])
    config = {"mcpServers": {"demo": {"command": sys.executable, "args": [DEMO]}}}
    with Agent(llm, tools=[config, local_double], tool_format="react") as agent:
        assert set(mcp_processes()) == before  # nothing started by building the agent
        result = agent.run_result("add, double, fail")
        started = set(mcp_processes()) - before
        assert len(started) >= 2  # the supervisor and the server
    observations = [s.observation for s in result.steps if s.kind == "observation"]
    assert observations[:2] == ["5", "10"]
    assert observations[2].startswith("Error: fail raised MCPToolError: ") and "cannot do that: r" in observations[2]
    assert result.answer == "5 and 10"
    prompt = llm.calls[0][0][-1].content
    positions = [prompt.find(f"\n{name}: Call this tool") for name in ["add", "read_resource", "local_double"]]
    assert -1 not in positions and positions == sorted(positions)  # in the order given: the config, then ours
    assert wait_gone(list(started)) == []


def test_closing_twice_and_closing_unstarted_are_fine_using_after_close_is_not():
    toolset = MCPToolset([demo_config()])
    toolset.close()
    toolset.close()
    with pytest.raises(ConfigurationError, match="this MCPToolset is closed"):
        toolset.start()


def test_async_agent_lists_and_calls_mcp_tools():
    """`arun` starts the servers in a worker thread (not on the loop) and runs a turn of two MCP calls."""
    two = call("add", {"a": 2, "b": 3}) + "\n" + call("echo", {"text": "hi"})
    llm = ScriptedLLM([two, "Thought: done\nFinal Answer: ok"])
    config = {"mcpServers": {"demo": {"command": sys.executable, "args": [DEMO]}}}

    async def main():
        async with Agent(llm, tools=[config], tool_format="react") as agent:
            return await agent.arun_result("add and echo")

    import asyncio

    result = asyncio.run(main())
    observations = [s.observation for s in result.steps if s.kind == "observation"]
    assert observations[0] == "5" and "hi" in observations[1]
    assert result.answer == "ok"
