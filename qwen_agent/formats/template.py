"""Tools rendered by the backend itself: the checkpoint's chat template, or a server that takes OpenAI `tools`.

`ChatTemplateFormat(inner)` leaves the conversation in OpenAI's shape and hands the tools over in a
`ChatPrompt`, so the model reads exactly the text it was trained on (Qwen2.5's Hermes block, Qwen3-Coder's
XML). What the model writes back is still read by `inner` (a call a server leaves as text is recovered too).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from qwen_agent.formats.base import ParsedTurn, Rendered, ToolChoice, ToolFormat, TurnReader
from qwen_agent.schema import ChatPrompt, Message, ToolSpec

CALL_OPEN = "<tool_call>"
#: `<tool_call>` as it is left in a server's content beside the calls it parsed (U+2060 WORD JOINER after `<`):
#: it reads the same, and no Hermes reader takes it for markup
ESCAPED_CALL_OPEN = "<\u2060tool_call>"


class ChatTemplateFormat(ToolFormat):
    """`inner`'s reading, the backend's rendering.

    Args:
        inner: the format the template renders and the model writes (Hermes, Qwen3-Coder).
        send_choice: give `tool_choice` to the backend (a server that enforces it) instead of starting the
            assistant turn with `inner`'s forced prefix (a local template, continued by us).
    """

    def __init__(self, inner: ToolFormat, *, send_choice: bool = False) -> None:
        self.inner = inner
        self.send_choice = send_choice
        self.name = f"{inner.name} (chat template)"  # type: ignore[misc]

    @property  # type: ignore[override]
    def think_opened(self) -> bool:
        return self.inner.think_opened

    @property  # type: ignore[override]
    def call_markers(self) -> tuple[str, ...]:
        return self.inner.call_markers

    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> Rendered:
        if not tools:
            return Rendered(messages)
        messages = [self.verbatim(m, tools) or m for m in messages]
        if self.send_choice:
            return Rendered(ChatPrompt(messages, tools, choice.to_openai()))
        return Rendered(ChatPrompt(messages, tools), (), self.inner.forced_prefix(choice, tools))

    def forced_prefix(self, choice: ToolChoice, tools: Sequence[ToolSpec]) -> str:
        return "" if self.send_choice else self.inner.forced_prefix(choice, tools)

    def verbatim(self, message: Message, tools: Sequence[ToolSpec]) -> Message | None:
        """See `ToolFormat.verbatim`. A call whose id is in the raw text was parsed by the server, and the raw
        text is our rebuild of it (`server_reply_text`), not the model's words: such a turn goes back as calls,
        which the server's template renders as it did for the model."""
        if any(c.id in (message.raw_text or "") for c in message.tool_calls or []):
            return None
        return self.inner.verbatim(message, tools)

    def _parse(self, text: str, tools: list[ToolSpec]) -> ParsedTurn:
        return self.inner._parse(text, tools)

    def reader(self, tools: Sequence[ToolSpec] = (), prefill: str = "") -> TurnReader:
        return self.inner.reader(tools, prefill)


def server_reply_text(content: str, reasoning: str = "", calls: Sequence[tuple[str, str, str]] = ()) -> str:
    """A server's structured reply (reasoning, content, calls as (name, arguments JSON text, id)) as the text a
    Hermes-reading format reads back: `<think>` reasoning, the content, then one `<tool_call>` per call, its
    JSON carrying the server's call id so the call keeps it end to end.

    Content is read for calls only when the server parsed none (a small model's call the server's parser
    missed): next to calls the server did parse, call markup in the content is escaped, so it stays text."""
    head = f"<think>\n{reasoning}\n</think>\n\n" if reasoning else ""
    if calls:
        content = content.replace(CALL_OPEN, ESCAPED_CALL_OPEN)
    return head + content + "".join(tool_call_text(name, args, call_id) for name, args, call_id in calls)


def tool_call_text(name: str, arguments: str, call_id: str = "") -> str:
    """One call in Hermes markup (with `"id"` when given); arguments that are not JSON text are kept as a
    JSON string."""
    try:
        args = json.loads(arguments) if arguments.strip() else {}
    except ValueError:
        args = arguments
    call: dict[str, object] = {"name": name, "arguments": args}
    if call_id:
        call["id"] = call_id
    return "\n<tool_call>\n" + json.dumps(call, ensure_ascii=False) + "\n</tool_call>"
