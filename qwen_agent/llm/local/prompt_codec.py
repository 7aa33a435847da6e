"""Prompt to token ids and back, for the local backend: one interface, two implementations.

- `HFCodec`: a checkpoint's own tokenizer; chat prompts rendered with its chat template (Qwen1.5/2/2.5/3).
- `TiktokenCodec`: our `QwenTokenizer` over `qwen.tiktoken`, chat prompts as ChatML (Qwen-1 checkpoints,
  whose remote-code tokenizer we do not need to run).

A raw `str` prompt is encoded as is, special-token text included (`<|im_start|>` becomes the special token):
the caller wrote the exact text the model continues. In a chat prompt the last assistant message is continued.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from qwen_agent.errors import ConfigurationError
from qwen_agent.llm.base import Prompt
from qwen_agent.prompts.chatml import ENDOFTEXT, IM_END
from qwen_agent.schema import Message, ToolCall


class PromptCodec(Protocol):
    eos_ids: frozenset[int]

    def encode(self, prompt: Prompt) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...


def message_dicts(messages: Sequence[Message]) -> list[dict[str, Any]]:
    """Messages in the shape chat templates expect: OpenAI's, with tool-call arguments as an object (the
    templates write them with `tojson`), and an assistant's `reasoning_content` (Qwen3's templates read it)."""
    out: list[dict[str, Any]] = []
    for m in messages:
        d: dict[str, Any] = {"role": m.role, "content": m.content or ""}
        if m.name:
            d["name"] = m.name
        if m.reasoning_content:
            d["reasoning_content"] = m.reasoning_content
        if m.tool_calls:
            d["tool_calls"] = [
                {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": _arguments_object(c)}}
                for c in m.tool_calls
            ]
        if m.tool_call_id:
            d["tool_call_id"] = m.tool_call_id
        out.append(d)
    return out


def _arguments_object(call: ToolCall) -> dict[str, Any] | str:
    """The arguments as an object; text that is not one (a sole string parameter) stays text."""
    parsed = call.parsed_arguments()
    return parsed if parsed is not None else call.arguments


def template_tool_format(template: str | None) -> str | None:
    """Which tool-call format a chat template renders tools in: "hermes" (`<tool_call>` JSON, Qwen2.5/3),
    "qwen3_coder" (`<function=...>` XML), "" when it renders no tools (e.g. Qwen-1's ChatML), None without one."""
    if not template:
        return None
    if "tools" not in template:
        return ""
    if "<function=" in template:
        return "qwen3_coder"
    return "hermes" if "<tool_call>" in template else ""


def _continues(messages: Sequence[Message]) -> bool:
    return bool(messages) and messages[-1].role == "assistant"


class HFCodec:
    """A transformers tokenizer with a chat template."""

    def __init__(
        self, tokenizer: Any, eos_ids: Sequence[int] = (), template_kwargs: dict[str, Any] | None = None
    ) -> None:
        self.tokenizer = tokenizer
        self.template_kwargs = dict(template_kwargs or {})
        ids = set(eos_ids)
        for token in (tokenizer.eos_token, ENDOFTEXT, IM_END):
            tid = tokenizer.convert_tokens_to_ids(token) if token else None
            if isinstance(tid, int) and tid != tokenizer.unk_token_id:
                ids.add(tid)
        self.eos_ids = frozenset(ids)

    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            return list(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
        if not getattr(self.tokenizer, "chat_template", None):
            raise ConfigurationError(
                "this checkpoint's tokenizer has no chat template; pass the prompt as text (a str)"
            )
        messages = list(prompt)
        if _continues(messages) and not (messages[-1].content or "").strip():
            messages = messages[:-1]  # an empty assistant turn to continue is a plain generation prompt
        cont = _continues(messages)
        tools = [t.to_openai() for t in getattr(prompt, "tools", ())]
        text = self.tokenizer.apply_chat_template(
            message_dicts(messages),
            tools=tools or None,
            tokenize=False,
            add_generation_prompt=not cont,
            continue_final_message=cont,
            **self.template_kwargs,
        )
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)


class TiktokenCodec:
    """Our QwenTokenizer (qwen.tiktoken), ChatML for chat prompts. Message content is encoded as ordinary
    text, so it cannot inject `<|im_end|>`."""

    def __init__(self, tokenizer: Any, eos_ids: Sequence[int] = ()) -> None:
        self.tokenizer = tokenizer
        self.eos_ids = frozenset({*eos_ids, tokenizer.eod_id, tokenizer.im_end_id})

    def encode(self, prompt: Prompt) -> list[int]:
        if isinstance(prompt, str):
            return self.tokenizer.encode(prompt)
        return self.tokenizer.encode_chat(prompt, add_generation_prompt=not _continues(prompt))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)
