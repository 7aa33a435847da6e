"""ToolRegistry: the tools an agent may call, by name. Duplicate names raise."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from qwen_agent.errors import DuplicateToolError, ToolDefinitionError, ToolNotFoundError
from qwen_agent.schema import ToolSpec, normalize_tool_name
from qwen_agent.tools.base import Tool
from qwen_agent.tools.function import FunctionTool


def as_tool(obj: Tool | Callable[..., Any]) -> Tool:
    """A Tool as is; a plain function through `@tool`."""
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return FunctionTool(obj)
    raise ToolDefinitionError(f"not a tool or a function: {obj!r}")


class ToolRegistry:
    """An ordered set of tools with unique names."""

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for t in tools:
            self.register(t)

    def register(self, obj: Tool | Callable[..., Any]) -> Tool:
        t = as_tool(obj)
        if t.name in self._tools:
            raise DuplicateToolError(f"a tool named {t.name!r} is already registered")
        self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool:
        """The tool called exactly `name`."""
        try:
            return self._tools[name]
        except KeyError:
            raise ToolNotFoundError(self.unknown_message(name)) from None

    def resolve(self, name: str) -> Tool:
        """The tool a model meant by `name`: exact, then ignoring case, backticks, quotes and brackets."""
        if name in self._tools:
            return self._tools[name]
        wanted = normalize_tool_name(name)
        for key, t in self._tools.items():
            if normalize_tool_name(key) == wanted or normalize_tool_name(t.spec.human_name) == wanted:
                return t
        raise ToolNotFoundError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        return f"Unknown tool {name!r}. Available tools: {', '.join(self._tools) or '(none)'}."

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._tools.values()]

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)


__all__ = ["ToolRegistry", "as_tool", "normalize_tool_name"]  # normalize_tool_name lives in schema (layer 1)
