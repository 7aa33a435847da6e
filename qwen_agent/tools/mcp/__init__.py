"""MCP client: the tools of Model Context Protocol servers as agent tools (needs the `mcp` extra)."""

from __future__ import annotations

from qwen_agent.tools.mcp.config import MCPServerConfig, load_mcp_config, parse_mcp_config
from qwen_agent.tools.mcp.toolset import MCPTool, MCPToolset

__all__ = ["MCPServerConfig", "MCPTool", "MCPToolset", "load_mcp_config", "parse_mcp_config"]
