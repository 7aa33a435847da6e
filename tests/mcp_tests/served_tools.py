"""Tools the server tests register with `qwen-agent mcp-server --tool tests.mcp_tests.served_tools:NAME`."""

from __future__ import annotations

from qwen_agent import tool


@tool
def shout(text: str, times: int = 1) -> str:
    """Upper-case the text, repeated."""
    return " ".join([text.upper()] * times)
