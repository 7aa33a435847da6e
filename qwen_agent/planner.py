"""Planners: how one agent turn is asked of the model and read back as an assistant message.

The agent keeps the conversation in OpenAI's shape (assistant `tool_calls`, `tool` results); a planner turns
that into whatever the model reads, calls the LLM, and returns the assistant message the model meant.
`ReactPlanner` serves text-only models through Qwen's ReAct format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from qwen_agent.llm.base import LLM
from qwen_agent.prompts.react import STOP_WORDS, Lang, build_react_messages
from qwen_agent.react import parse_react
from qwen_agent.schema import GenerationConfig, Message, ToolCall, ToolSpec, Usage


@dataclass(frozen=True)
class Turn:
    """The model's turn: an assistant message (content and/or tool_calls), the raw text, token usage."""

    message: Message
    raw: str
    usage: Usage
    thought: str = ""


class Planner(Protocol):
    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None
    ) -> Turn: ...


class ReactPlanner:
    """Qwen's ReAct prompt in, `Thought / Action / Action Input` or `Final Answer` out."""

    def __init__(self, lang: Lang = "en", stop: Sequence[str] = STOP_WORDS) -> None:
        self.lang = lang
        self.stop = list(stop)

    def plan(
        self, llm: LLM, messages: Sequence[Message], tools: Sequence[ToolSpec], config: GenerationConfig | None
    ) -> Turn:
        prompt = build_react_messages(messages, tools, self.lang)
        gen = llm.generate(prompt, stop=self.stop, config=config)
        return react_turn(gen.text, gen.usage)


def react_turn(text: str, usage: Usage | None = None) -> Turn:
    """Read one ReAct model turn as an assistant message."""
    parsed = parse_react(text)
    usage = usage or Usage()
    if parsed.kind == "tool_calls":
        calls = [ToolCall(name=c.name, arguments=c.arguments) for c in parsed.calls]
        return Turn(Message.assistant(parsed.thought or None, calls), text, usage, parsed.thought)
    return Turn(Message.assistant(parsed.answer or ""), text, usage, parsed.thought)
