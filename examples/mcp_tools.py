"""Tools from MCP servers in an agent: here our own sandboxed Python, served by `qwen-agent mcp-server`.

Any server in the `{"mcpServers": ...}` format works the same way (e.g. "npx -y @modelcontextprotocol/server-...").
Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct python examples/mcp_tools.py
"""

import sys

from qwen_agent import Agent

MCP_SERVERS = {"mcpServers": {
    "sandbox": {"command": sys.executable, "args": ["-m", "qwen_agent.cli", "mcp-server", "--timeout", "30"]},
}}

if __name__ == "__main__":
    with Agent(tools=[MCP_SERVERS]) as agent:  # the server starts when the agent first needs its tools
        print(agent.run("What is the 20th Fibonacci number? Compute it with Python."))
    # leaving `with` stops the server and its kernel
