"""Tools: the base class, the `@tool` decorator, the registry, and the built-in tools (imported lazily)."""

from __future__ import annotations

import importlib

from qwen_agent.errors import ConfigurationError
from qwen_agent.tools.base import Tool
from qwen_agent.tools.function import FunctionTool, tool
from qwen_agent.tools.registry import ToolRegistry, as_tool

# Built-in tools by the name the CLI and configuration use. Explicit, and imported only when asked for.
BUILTIN_TOOLS: dict[str, str] = {
    "code_interpreter": "qwen_agent.tools.code_interpreter:CodeInterpreter",
}


def load_builtin(name: str, **kwargs: object) -> Tool:
    """Instantiate the built-in tool registered under `name`."""
    try:
        target = BUILTIN_TOOLS[name]
    except KeyError:
        raise ConfigurationError(f"unknown built-in tool {name!r}; known: {', '.join(BUILTIN_TOOLS)}") from None
    module, _, cls = target.partition(":")
    return getattr(importlib.import_module(module), cls)(**kwargs)


__all__ = ["BUILTIN_TOOLS", "FunctionTool", "Tool", "ToolRegistry", "as_tool", "load_builtin", "tool"]
