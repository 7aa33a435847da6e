"""`qwen-agent mcp-server` driven by the `mcp` SDK's own client and by ours (stdio and streamable HTTP)."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from qwen_agent import Agent, ScriptedLLM
from qwen_agent.errors import MCPServerError, MCPToolError
from qwen_agent.tools.mcp import MCPServerConfig, MCPToolset

from .conftest import free_port, http_server, mcp_processes, wait_gone

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(REPO)}
SERVE = [sys.executable, "-m", "qwen_agent.cli", "mcp-server"]
TOOL = ["--tool", "tests.mcp_tests.served_tools:shout"]
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()"


def stdio_config(*extra: str) -> MCPServerConfig:
    return MCPServerConfig("py", command=SERVE[0], args=(*SERVE[1:], *TOOL, *extra), env=ENV, cwd=str(REPO),
                           timeout=60)


def test_the_sdk_client_over_stdio():
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def session() -> list:
        params = StdioServerParameters(command=SERVE[0], args=[*SERVE[1:], *TOOL], env=ENV, cwd=str(REPO))
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            listed = await s.list_tools()
            first = await s.call_tool("python", {"code": "x = 20\nx + 1"})
            second = await s.call_tool("python", {"code": "x * 2"})
            plot = await s.call_tool("python", {"code": PLOT})
            bad = await s.call_tool("python", {"code": "1 / 0"})
            shout = await s.call_tool("shout", {"text": "hi", "times": 2})
            wrong = await s.call_tool("shout", {"times": 2})
            return [listed, first, second, plot, bad, shout, wrong]

    listed, first, second, plot, bad, shout, wrong = anyio.run(session)
    assert [t.name for t in listed.tools] == ["python", "shout"]
    assert listed.tools[1].input_schema["required"] == ["text"]
    assert first.content[0].text == "21" and not first.is_error
    assert second.content[0].text == "40"  # the same kernel: state kept within the session
    images = [c for c in plot.content if c.type == "image"]
    assert len(images) == 1 and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data)[:8] == b"\x89PNG\r\n\x1a\n"
    assert bad.is_error and "ZeroDivisionError" in bad.content[0].text
    assert shout.content[0].text == "HI HI" and not shout.is_error
    assert wrong.is_error and "Invalid arguments for shout: text: Field required" in wrong.content[0].text


def test_our_client_over_stdio_round_trip_through_an_agent():
    before = set(mcp_processes())
    script = [
        'Thought: t\nAction: python\nAction Input: {"code": "open(\'note.txt\', \'w\').write(\'kept\')\\nimport os\\nos.listdir()"}',
        'Thought: t\nAction: python\nAction Input: {"code": "open(\'note.txt\').read()"}',
        'Thought: t\nAction: shout\nAction Input: {"text": "done"}',
        "Thought: ok\nFinal Answer: fine",
    ]
    with MCPToolset([stdio_config()]) as toolset, Agent(ScriptedLLM(script), tools=[toolset], tool_format="react") as agent:
        result = agent.run_result("write and read a file")
    observations = [s.observation for s in result.steps if s.kind == "observation"]
    assert observations == ["['note.txt']", "'kept'", "DONE"]
    assert wait_gone(list(set(mcp_processes()) - before)) == []


@pytest.fixture(scope="module")
def http_url():
    port = free_port()
    with http_server([*SERVE, "--transport", "http", "--port", str(port), *TOOL], port, env=ENV):
        yield f"http://127.0.0.1:{port}/mcp"


def test_each_http_session_has_its_own_kernel_and_work_dir(http_url):
    with MCPToolset([MCPServerConfig("a", url=http_url)]) as one, MCPToolset([MCPServerConfig("b", url=http_url)]) as two:
        py1, py2 = one.tools()[0], two.tools()[0]
        assert py1.name == "python"
        py1.call({"code": "secret = 'alice'\nopen('mine.txt', 'w').write('1')"})
        assert py1.call({"code": "secret"}) == "'alice'"
        with pytest.raises(MCPToolError, match="NameError"):
            py2.call({"code": "secret"})
        assert py2.call({"code": "import os\nos.path.exists('mine.txt')"}) == "False"
        dirs = [p.call({"code": "import os\nos.getcwd()"}) for p in (py1, py2)]
        assert dirs[0] != dirs[1]
        text = py1.call({"code": PLOT})
        assert "[image saved to " in text and text.rstrip().endswith(".png]")


def test_api_key_is_required_when_set():
    port = free_port()
    with http_server([*SERVE, "--transport", "http", "--port", str(port), "--require-key", "k3y"], port, env=ENV):
        url = f"http://127.0.0.1:{port}/mcp"
        with pytest.raises(MCPServerError, match="'nokey'.*failed to start"):
            MCPToolset([MCPServerConfig("nokey", url=url, startup_timeout=10)]).start()
        with MCPToolset({"mcpServers": {"k": {"url": url, "headers": {"Authorization": "Bearer k3y"}}}}) as ok:
            assert ok.tools()[0].call({"code": "6 * 7"}) == "42"


def test_refuses_to_serve_beyond_loopback_without_a_key():
    done = subprocess.run([*SERVE, "--transport", "http", "--host", "0.0.0.0", "--port", str(free_port())],
                          capture_output=True, text=True, env={**ENV, "PATH": "/usr/bin:/bin"}, timeout=60)
    assert done.returncode == 1
    assert "refusing to serve sandboxed Python on '0.0.0.0' without --require-key" in done.stderr


def test_bad_tool_spec_is_a_clear_error():
    done = subprocess.run([*SERVE, "--tool", "no_such_module_xyz:thing"], capture_output=True, text=True,
                          env={**ENV, "PATH": "/usr/bin:/bin"}, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert "cannot import tool 'no_such_module_xyz:thing'" in done.stderr


def test_an_http_session_that_ends_gives_its_kernel_back():
    """In-process server (PythonMCPServer.http_app under uvicorn): the kernel lives exactly as long as the session."""
    import gc
    import time

    from qwen_agent.mcp_server import PythonMCPServer
    from qwen_agent.server.serving import ServerThread

    with PythonMCPServer(pool_size=1) as server:
        thread = ServerThread(server.http_app(), port=free_port()).start()
        try:
            url = f"http://{thread.host}:{thread.port}/mcp"
            with MCPToolset([MCPServerConfig("a", url=url)]) as client:
                assert client.tools()[0].call({"code": "1 + 1"}) == "2"
                assert server.kernels.active == 1
            deadline = time.monotonic() + 10
            while server.kernels.active and time.monotonic() < deadline:
                gc.collect()
                time.sleep(0.1)
            assert server.kernels.active == 0
        finally:
            thread.stop()


def test_mcp_server_re_serves_the_tools_of_other_mcp_servers(tmp_path):
    from .conftest import DEMO

    config = tmp_path / "more.json"
    config.write_text(json.dumps({"mcpServers": {"demo": {"command": sys.executable, "args": [DEMO]}}}))
    before = set(mcp_processes())
    with MCPToolset([stdio_config("--mcp-config", str(config))]) as toolset:
        tools = {t.name: t for t in toolset.tools()}
        assert list(tools)[:3] == ["python", "shout", "add"] and "read_resource" in tools
        assert tools["add"].call({"a": 40, "b": 2}) == "42"
        with pytest.raises(MCPToolError, match="cannot do that: twice removed"):
            tools["fail"].call({"reason": "twice removed"})
    assert wait_gone(list(set(mcp_processes()) - before)) == []  # the inner server went with the outer one
