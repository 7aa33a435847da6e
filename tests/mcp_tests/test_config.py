"""The `{"mcpServers": {...}}` configuration format, and bad configurations with clear errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qwen_agent.cli import main
from qwen_agent.errors import ConfigurationError, ToolDefinitionError
from qwen_agent.tools.mcp import MCPServerConfig, MCPToolset, load_mcp_config, parse_mcp_config
from qwen_agent.tools.registry import ToolRegistry

from .conftest import DEMO

REPO = Path(__file__).resolve().parents[2]


def test_the_ecosystem_format():
    servers = parse_mcp_config({"mcpServers": {
        "fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."], "env": {"K": 1}},
        "web": {"url": "http://127.0.0.1:8000/mcp", "headers": {"Authorization": "Bearer t"}, "timeout": 5},
        "old": {"url": "http://127.0.0.1:8001/sse"},
        "typed": {"url": "http://127.0.0.1:8002/events", "type": "sse"},
        "off": {"command": "x", "disabled": True},
    }})
    fs, web, old, typed = servers
    assert (fs.name, fs.transport, fs.command, fs.args, fs.env) == (
        "fs", "stdio", "npx", ("-y", "@modelcontextprotocol/server-filesystem", "."), {"K": "1"})
    assert (web.transport, web.headers, web.timeout) == ("http", {"Authorization": "Bearer t"}, 5.0)
    assert old.transport == "sse" and typed.transport == "sse"


@pytest.mark.parametrize(("data", "message"), [
    ({"servers": {}}, 'an MCP configuration is a JSON object {"mcpServers"'),
    ({"mcpServers": {"a": {}}}, "'a' needs exactly one of 'command'"),
    ({"mcpServers": {"a": {"command": "x", "url": "http://h"}}}, "needs exactly one of"),
    ({"mcpServers": {"a": {"command": "x", "args": "not-a-list"}}}, "'args' must be a JSON list"),
    ({"mcpServers": {"a": {"command": "x", "comand": "y"}}}, "unknown keys ['comand']"),
    ({"mcpServers": {"a": {"url": "ftp://h"}}}, "url must start with http:// or https://"),
    ({"mcpServers": {"a": {"url": "http://h", "transport": "carrier-pigeon"}}}, "unknown transport"),
    ({"mcpServers": {"a b": {"command": "x"}}}, "invalid MCP server name 'a b'"),
    ({"mcpServers": {"a": {"command": "x", "timeout": 0}}}, "must be positive"),
    ({"mcpServers": {"a": "npx server"}}, "expected an object, got str"),
])
def test_bad_configurations_are_refused_clearly(data, message):
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("{", r"\{").replace("(", r"\(")):
        parse_mcp_config(data)


def test_config_files(tmp_path):
    good = tmp_path / "mcp.json"
    good.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [DEMO]}}}))
    assert [c.name for c in load_mcp_config(good)] == ["demo"]
    broken = tmp_path / "broken.json"
    broken.write_text("{mcpServers: ")
    with pytest.raises(ConfigurationError, match="broken.json is not valid JSON"):
        load_mcp_config(broken)
    with pytest.raises(ConfigurationError, match="cannot read MCP configuration .*missing.json"):
        load_mcp_config(tmp_path / "missing.json")


def test_two_servers_may_not_share_a_name():
    with pytest.raises(ConfigurationError, match="two MCP servers share a name: \\['x'\\]"):
        MCPToolset([MCPServerConfig("x", command="a"), MCPServerConfig("x", command="b")])


def test_a_mapping_among_tools_must_be_an_mcp_config():
    with pytest.raises(ToolDefinitionError, match="must be an MCP configuration"):
        ToolRegistry([{"tools": []}])


def test_cli_run_with_mcp_config(tmp_path):
    """`qwen-agent run --mcp-config FILE` (twice) against a scripted model server: the tools reach the agent."""
    from qwen_agent.llm import ScriptedLLM
    from qwen_agent.server import ServerThread, create_app

    first, second = tmp_path / "one.json", tmp_path / "two.json"
    first.write_text(json.dumps({"mcpServers": {"a": {"command": sys.executable, "args": [DEMO]}}}))
    second.write_text(json.dumps({"mcpServers": {"b": {"command": sys.executable, "args": [DEMO]}}}))
    script = ['Thought: t\nAction: a-add\nAction Input: {"a": 4, "b": 5}', "Thought: ok\nFinal Answer: nine"]
    with ServerThread(create_app(ScriptedLLM(script), model_name="m")).start() as server:
        done = subprocess.run([sys.executable, "-m", "qwen_agent.cli", "run", "four plus five", "--backend", "openai",
                               "--base-url", server.base_url, "--model", "m", "--api-key", "x",
                               "--mcp-config", str(first), "--mcp-config", str(second)],
                              capture_output=True, text=True, timeout=120, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Action: a-add" in out and "Observation: 9" in out and "Final Answer: nine" in out


def test_cli_reports_a_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"mcpServers": {"a": {}}}')
    assert main(["run", "q", "--backend", "openai", "--model", "m", "--mcp-config", str(bad)]) == 1
    assert "needs exactly one of 'command' (stdio) or 'url' (HTTP)" in capsys.readouterr().err
