"""The page shows what each step cost: a model turn's tokens and seconds, a tool call's seconds (real Chromium)."""

from __future__ import annotations

import re

import pytest

from qwen_agent import tool
from tests.ui.conftest import PacedScriptedLLM, idle, react_agent, send, ui_server

CALL = 'Thought: add them\nAction: add\nAction Input: {"a": 2, "b": 3}'
FINAL = "Thought: done\nFinal Answer: 5"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


@pytest.mark.browser
def test_each_step_shows_its_tokens_and_seconds(page) -> None:
    llm = PacedScriptedLLM([CALL, FINAL], delay=0.01)  # a token per character, 3 characters per chunk
    with react_agent(llm, [add]) as agent, ui_server(agent) as server:
        b = page(server)
        send(b, "2+3?")
        b.wait("!!document.querySelector('.answer')")
        idle(b)
        shown = b.js("[...document.querySelectorAll('.timing')].map(e => e.textContent)")
    seconds = r"(\d+\.\d\d) s"
    assert len(shown) == 3, shown  # the tool-call turn, the tool's result, the answer turn
    first = re.fullmatch(rf"0 prompt tokens, {len(CALL)} generated · {seconds}", shown[0])
    tool_line = re.fullmatch(seconds, shown[1])
    last = re.fullmatch(rf"0 prompt tokens, {len(FINAL)} generated · {seconds}", shown[2])
    assert first and tool_line and last, shown
    # the turn's seconds include its paced chunks: 17 chunks of 0.01 s for CALL
    assert float(first.group(1)) >= 0.01 * (len(CALL) // 3)
