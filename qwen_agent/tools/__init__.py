"""Tools: the base class, the `@tool` decorator, the registry, and the built-in tools (imported lazily)."""

from __future__ import annotations

from qwen_agent.lazy import load_from_table
from qwen_agent.tools.base import Tool, ToolProvider
from qwen_agent.tools.function import FunctionTool, tool
from qwen_agent.tools.registry import ToolRegistry, as_tool

# Built-in tools by the name the CLI and configuration use. Explicit, and imported only when asked for.
BUILTIN_TOOLS: dict[str, str] = {
    "code_interpreter": "qwen_agent.tools.code_interpreter:CodeInterpreter",
}


def load_builtin(name: str, **kwargs: object) -> Tool:
    """Instantiate the built-in tool registered under `name`."""
    return load_from_table(BUILTIN_TOOLS, name, "built-in tool")(**kwargs)


__all__ = ["BUILTIN_TOOLS", "FunctionTool", "Tool", "ToolProvider", "ToolRegistry", "as_tool", "load_builtin", "tool"]
