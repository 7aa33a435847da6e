"""The sandboxed interpreter served over MCP (`qwen-agent mcp-server`); needs the `mcp` and `interpreter` extras.

`PythonMCPServer` is imported on first access, so that the CLI can register the command cheaply.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PythonMCPServer"]


def __getattr__(name: str) -> Any:
    if name == "PythonMCPServer":
        from qwen_agent.mcp_server.app import PythonMCPServer

        return PythonMCPServer
    raise AttributeError(name)
