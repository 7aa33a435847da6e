"""ChatML, the conversation format of Qwen chat models: `<|im_start|>role\\ncontent<|im_end|>`."""

from __future__ import annotations

from collections.abc import Sequence

from qwen_agent.schema import Message

IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
ENDOFTEXT = "<|endoftext|>"
DEFAULT_SYSTEM = "You are a helpful assistant."


def chatml_turns(
    messages: Sequence[Message], *, add_generation_prompt: bool = True, default_system: str | None = DEFAULT_SYSTEM
) -> list[tuple[str, str, bool]]:
    """The conversation as (role, content, closed) turns, the form both the renderer and the tokenizer use.

    A system turn is prepended when the conversation has none and `default_system` is set. If the last message
    is from the assistant, it is left open (not closed by `<|im_end|>`) so the model continues it; otherwise an
    empty open assistant turn is added when `add_generation_prompt` is true.
    """
    msgs = list(messages)
    turns: list[tuple[str, str, bool]] = []
    if default_system is not None and (not msgs or msgs[0].role != "system"):
        turns.append(("system", default_system, True))
    for i, m in enumerate(msgs):
        role = "user" if m.role == "tool" else m.role  # Qwen-1 has no tool role; results arrive as text
        is_open = i == len(msgs) - 1 and m.role == "assistant"
        turns.append((role, m.content or "", not is_open))
    if add_generation_prompt and (not msgs or msgs[-1].role != "assistant"):
        turns.append(("assistant", "", False))
    return turns


def render_chatml(
    messages: Sequence[Message], *, add_generation_prompt: bool = True, default_system: str | None = DEFAULT_SYSTEM
) -> str:
    """Render `messages` as ChatML text (see `chatml_turns` for the rules)."""
    turns = chatml_turns(messages, add_generation_prompt=add_generation_prompt, default_system=default_system)
    return "".join(
        f"{IM_START}{role}\n{content}{IM_END}\n" if closed else f"{IM_START}{role}\n{content}"
        for role, content, closed in turns
    )
