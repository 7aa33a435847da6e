"""ToolRegistry: the tools an agent may call, by name. Duplicate names raise.

Tool providers (an `MCPToolset`, or an `{"mcpServers": ...}` mapping, which becomes one) are expanded into their
tools when the tools are first needed, so building an agent starts no server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from qwen_agent.errors import DuplicateToolError, ToolDefinitionError, ToolNotFoundError
from qwen_agent.schema import ToolSpec, normalize_tool_name
from qwen_agent.tools.base import Tool, ToolProvider
from qwen_agent.tools.function import FunctionTool

ToolLike = Tool | ToolProvider | Callable[..., Any] | Mapping[str, Any]


def as_tool(obj: Tool | Callable[..., Any]) -> Tool:
    """A Tool as is; a plain function through `@tool`."""
    if isinstance(obj, Tool):
        return obj
    if callable(obj):
        return FunctionTool(obj)
    raise ToolDefinitionError(f"not a tool or a function: {obj!r}")


def as_provider(obj: ToolProvider | Mapping[str, Any]) -> ToolProvider:
    """A ToolProvider as is; an `{"mcpServers": ...}` mapping as an MCPToolset."""
    if isinstance(obj, ToolProvider):
        return obj
    if "mcpServers" not in obj:
        raise ToolDefinitionError(f'a mapping among tools must be an MCP configuration {{"mcpServers": ...}}, got keys {sorted(obj)}')
    from qwen_agent.tools.mcp import MCPToolset

    return MCPToolset(obj)


class ToolRegistry:
    """An ordered set of tools with unique names, plus the providers they came from."""

    def __init__(self, tools: Iterable[ToolLike] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._entries: list[Tool | ToolProvider] = []  # in the order given: providers keep their place
        self._pending = False
        self._providers: list[ToolProvider] = []
        for t in tools:
            self.register(t)

    def register(self, obj: ToolLike) -> Tool | None:
        """Add a tool (returned) or a provider (expanded when the tools are first needed; returns None)."""
        if isinstance(obj, (ToolProvider, Mapping)):
            provider = as_provider(obj)
            self._entries.append(provider)
            self._providers.append(provider)
            self._pending = True
            return None
        t = as_tool(obj)
        self._add(self._tools, t)
        self._entries.append(t)
        return t

    @staticmethod
    def _add(tools: dict[str, Tool], t: Tool) -> None:
        if t.name in tools:
            raise DuplicateToolError(f"a tool named {t.name!r} is already registered")
        tools[t.name] = t

    @property
    def _all(self) -> dict[str, Tool]:
        if self._pending:
            tools: dict[str, Tool] = {}
            for entry in self._entries:
                for t in entry.tools() if isinstance(entry, ToolProvider) else [entry]:
                    self._add(tools, t)
            self._tools, self._entries, self._pending = tools, list(tools.values()), False
        return self._tools

    @property
    def listed(self) -> bool:
        """Whether every provider has been asked for its tools (so `specs()` starts nothing and is quick)."""
        return not self._pending

    def get(self, name: str) -> Tool:
        """The tool called exactly `name`."""
        try:
            return self._all[name]
        except KeyError:
            raise ToolNotFoundError(self.unknown_message(name)) from None

    def resolve(self, name: str) -> Tool:
        """The tool a model meant by `name`: exact, then ignoring case, backticks, quotes and brackets."""
        tools = self._all
        if name in tools:
            return tools[name]
        wanted = normalize_tool_name(name)
        for key, t in tools.items():
            if normalize_tool_name(key) == wanted or normalize_tool_name(t.spec.human_name) == wanted:
                return t
        raise ToolNotFoundError(self.unknown_message(name))

    def entries(self) -> list[Tool | ToolProvider]:
        """What was registered, in order, without expanding providers (which would start their servers)."""
        return list(self._entries)

    def unknown_message(self, name: str) -> str:
        return f"Unknown tool {name!r}. Available tools: {', '.join(self._all) or '(none)'}."

    def specs(self) -> list[ToolSpec]:
        return [t.spec for t in self._all.values()]

    @property
    def names(self) -> list[str]:
        return list(self._all)

    def close(self) -> None:
        """Close the providers and the tools that hold resources (kernels), without starting anything."""
        for provider in self._providers:
            provider.close()
        for t in self._tools.values():
            close = getattr(t, "close", None)
            if callable(close):
                close()

    def __contains__(self, name: object) -> bool:
        return name in self._all

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._all.values())

    def __len__(self) -> int:
        return len(self._all)


__all__ = ["ToolLike", "ToolRegistry", "as_tool", "normalize_tool_name"]  # normalize_tool_name lives in schema (layer 1)
