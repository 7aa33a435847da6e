"""ToolProvider in ToolRegistry: expanded when first needed, in place, closed without being started."""

from __future__ import annotations

import pytest

from qwen_agent import Agent, ScriptedLLM, tool
from qwen_agent.errors import DuplicateToolError
from qwen_agent.tools import Tool, ToolProvider, ToolRegistry


@tool
def first(x: int) -> int:
    """The first tool."""
    return x


@tool
def last(x: int) -> int:
    """The last tool."""
    return x


class Pair(ToolProvider):
    """Two tools sharing one resource; counts how often it was asked for its tools and closed."""

    def __init__(self, names: tuple[str, ...] = ("left", "right")) -> None:
        self.names, self.listed, self.closed = names, 0, 0

    def tools(self) -> list[Tool]:
        self.listed += 1

        def make(name: str) -> Tool:
            @tool(name=name)
            def side(x: int) -> str:
                """One side."""
                return f"{name}:{x}"
            return side

        return [make(n) for n in self.names]

    def close(self) -> None:
        self.closed += 1


def test_expanded_on_first_need_and_in_place():
    pair = Pair()
    registry = ToolRegistry([first, pair, last])
    assert pair.listed == 0
    assert registry.names == ["first", "left", "right", "last"]
    assert registry.get("right").call({"x": 2}) == "right:2"
    assert pair.listed == 1  # once


def test_close_does_not_start_a_provider():
    pair = Pair()
    registry = ToolRegistry([pair])
    registry.close()
    assert (pair.listed, pair.closed) == (0, 1)


def test_duplicates_across_providers_raise_when_expanded():
    registry = ToolRegistry([Pair(("first",)), first])
    with pytest.raises(DuplicateToolError, match="'first'"):
        registry.specs()


def test_agent_closes_providers():
    pair = Pair()
    with Agent(ScriptedLLM(['Action: left\nAction Input: {"x": 1}', "Final Answer: ok"]), tools=[pair]) as agent:
        result = agent.run_result("q")
    assert result.steps[1].observation == "left:1" and pair.closed == 1
