"""The machinery the native Qwen formats (hermes, qwen3_coder) share: reading an answer as plain text and blocks.

After the reasoning (see `thinking`), a model's answer is read left to right as plain text and blocks. Each
kind of block has a `Scanner`: where one may start (`find`), and what it means once it is complete (`read`: an
end, the text it leaves in the answer, the calls it holds). A block that cannot be read as a call leaves its
text verbatim, so nothing the model wrote is lost; markup that carries nothing (a stray `</tool_call>`) leaves
nothing.

Streaming uses the same scan: `read` with `final=False` answers `PENDING` while more text could change what a
block means, and the reader shows plain text only up to there. Every text settled while streaming is settled the
same way in the whole reading, so the shown text is always a prefix of the final content; the one exception is
a lone `</think>` (see `thinking`): the text shown before it was reasoning, and the reader's `shown` starts over.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from qwen_agent.formats.base import ParsedTurn, Rendered, ToolChoice, ToolFormat, TurnReader
from qwen_agent.formats.schema_echo import without_schema_echo
from qwen_agent.formats.thinking import ThinkSplit, split_thinking
from qwen_agent.schema import Message, ToolCall, ToolSpec
from qwen_agent.text import partial_marker_len

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Block:
    """A read block: where it ends, the text it leaves in the answer, and the tool calls it holds."""

    end: int
    text: str = ""
    calls: tuple[ToolCall, ...] = ()


PENDING = None  # `read` while streaming: the block is not complete yet
NOT_A_BLOCK = Block(end=-1)  # `read`: what looked like a start is plain text
CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"


def find_marker(text: str, pos: int, marker: str) -> int:
    """The first index >= pos where `marker` starts, or where `text` ends with a beginning of it; -1 if none."""
    full = text.find(marker, pos)
    k = partial_marker_len(text, (marker,), pos)
    if k:
        return len(text) - k if full == -1 else min(full, len(text) - k)
    return full


def marker_state(text: str, start: int, marker: str, final: bool) -> bool | None:
    """True when `marker` is written in full at `start`; else `PENDING` while streaming, False at the end."""
    if text.startswith(marker, start):
        return True
    return PENDING if not final else False


class Scanner(ABC):
    """One kind of block a model may write in its answer."""

    @abstractmethod
    def find(self, text: str, pos: int) -> int:
        """The first index >= pos where such a block may start (a partial marker at the end counts); -1 if none."""

    @abstractmethod
    def read(self, text: str, start: int, final: bool) -> Block | None:
        """The block starting at `start`, `PENDING`, or `NOT_A_BLOCK`."""


class CallBlock(Scanner):
    """A block of calls opened by `opener`: up to `closer`, the next of `next_openers`, or the end of the output.

    Subclasses give `_calls` (the calls in a block's body and the text left around them) and may move where
    the closing tag is looked for (`_search_from`)."""

    def __init__(self, tools: list[ToolSpec], opener: str, closer: str, next_openers: tuple[str, ...],
                 *, body_has_opener: bool = False) -> None:
        self.tools = tools
        self.opener = opener
        self.closer = closer
        self.next_openers = next_openers
        self.body_has_opener = body_has_opener  # a bare `<function=...>` is read with its opening

    @abstractmethod
    def _calls(self, body: str) -> tuple[list[ToolCall], str]: ...

    def _search_from(self, text: str, after: int, final: bool) -> int | None:
        """Where the closing tag may be (`after`, the end of the opening, by default), or `PENDING`."""
        return after

    def find(self, text: str, pos: int) -> int:
        return find_marker(text, pos, self.opener)

    def read(self, text: str, start: int, final: bool) -> Block | None:
        state = marker_state(text, start, self.opener, final)
        if state is not True:
            return PENDING if state is None else NOT_A_BLOCK
        after = start + len(self.opener)
        if not final and all(m not in text[after:] for m in (self.closer, *self.next_openers)):
            return PENDING  # nothing can end the block yet; skip the search below on every streamed piece
        search_from = self._search_from(text, after, final)
        if search_from is PENDING:
            return PENDING
        close = text.find(self.closer, search_from)
        nxt = min((i for i in (text.find(m, search_from) for m in self.next_openers) if i != -1), default=-1)
        if close != -1 and (nxt == -1 or close < nxt):
            body_end, end = close, close + len(self.closer)
        elif nxt != -1:
            body_end = end = nxt
        elif final:
            body_end = end = len(text)
        else:
            return PENDING
        body = text[start if self.body_has_opener else after : body_end]
        if not body.strip():
            return Block(end)  # an empty block (e.g. a forced call the model ended at once): no text, no call
        calls, left = self._calls(body)
        if not calls:
            return Block(end, text[start:end])  # unreadable: kept as written
        return Block(end, left, tuple(calls))


class DropMarkup(Scanner):
    """Markup with nothing to keep: a stray closing tag, a `<think>` tag after the answer began."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def find(self, text: str, pos: int) -> int:
        return find_marker(text, pos, self.marker)

    def read(self, text: str, start: int, final: bool) -> Block | None:
        state = marker_state(text, start, self.marker, final)
        if state is None:
            return PENDING
        return Block(start + len(self.marker)) if state else NOT_A_BLOCK


@dataclass
class Scan:
    """The result of scanning text: its answer text (not yet stripped), its calls, and how far it is settled."""

    content: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    end: int = 0


def scan(text: str, pos: int, scanners: Sequence[Scanner], final: bool) -> Scan:
    """Read `text` from `pos` as plain text and blocks; stops at the first block still `PENDING` (streaming)."""
    out = Scan(end=pos)
    parts: list[str] = []
    while pos < len(text):
        hits = sorted((at, rank) for rank, s in enumerate(scanners) if (at := s.find(text, pos)) != -1)
        if not hits:
            parts.append(text[pos:])
            pos = len(text)
            break
        start = hits[0][0]
        parts.append(text[pos:start])
        block = NOT_A_BLOCK
        for at, rank in hits:
            if at != start:
                break
            block = scanners[rank].read(text, start, final)
            if block is PENDING:
                out.content, out.end = "".join(parts), start
                return out
            if block is not NOT_A_BLOCK:
                break
        if block is NOT_A_BLOCK:
            parts.append(text[start])
            pos = start + 1
            continue
        parts.append(block.text)
        out.calls.extend(block.calls)
        pos = block.end
    out.content, out.end = "".join(parts), pos
    return out


class NativeFormat(ToolFormat):
    """A format whose calls are markup in the answer text (after optional `<think>` reasoning).

    Args:
        think_opened: the prompt already opened `<think>` (Qwen3-Thinking-2507, Qwen3.5 and later QwQ templates
            end the generation prompt with it), so the output holds only `</think>`. Otherwise only a `<think>`
            the model writes at the very start opens reasoning.

    Rendering follows the chat templates these formats come from: a system turn describing the tools, earlier
    assistant turns with their calls written out, each run of tool results as `<tool_response>` blocks in one
    user turn (followed by `responses_end`), and a forced call started with `<tool_call>`. Subclasses give
    what differs:

    | hook                 | what it gives                                                                 |
    |----------------------|-------------------------------------------------------------------------------|
    | `_system`            | the system turn's text, tools described (None: no system turn)                |
    | `_assistant`         | an earlier assistant turn as the template writes it                           |
    | `_named_call_prefix` | the start of a call to the named function                                     |
    | `_scanners`          | the blocks its reader knows (`call_markers`: what ends unclosed reasoning)    |
    """

    call_markers: tuple[str, ...] = (CALL_OPEN,)
    responses_end: str = ""

    def __init__(self, *, think_opened: bool = False) -> None:
        self.think_opened = think_opened

    # --- render ------------------------------------------------------------------------------------------
    def _render(self, messages: list[Message], tools: list[ToolSpec], choice: ToolChoice) -> Rendered:
        show_tools = bool(tools) and choice.mode != "none"
        has_system = bool(messages) and messages[0].role == "system"
        system = self._system((messages[0].content or "") if has_system else None, tools if show_tools else [])
        prompt = [Message.system(system)] if system is not None else []
        rest = messages[1:] if has_system else messages
        last_query = max((i for i, m in enumerate(rest) if m.role == "user"), default=-1)
        offered = tools if show_tools else []
        history = [(self.verbatim(m, offered) or self._assistant(m, i > last_query)) if m.role == "assistant" else m
                   for i, m in enumerate(rest)]
        prompt += group_tool_results(history, self._tool_responses)
        return Rendered(prompt=prompt, prefill=self._prefill(choice) if show_tools else "")

    def _tool_responses(self, results: list[Message]) -> str:
        blocks = "\n".join(f"<tool_response>\n{m.content or ''}\n</tool_response>" for m in results)
        return blocks + self.responses_end

    def _prefill(self, choice: ToolChoice) -> str:
        if choice.mode == "function" and choice.name:
            return self._named_call_prefix(choice.name)
        return CALL_OPEN + "\n" if choice.mode in ("required", "function") else ""

    @abstractmethod
    def _system(self, system: str | None, tools: list[ToolSpec]) -> str | None:
        """The system turn's text from the conversation's (None when it has none) and the tools shown."""

    @abstractmethod
    def _assistant(self, m: Message, after_last_question: bool) -> Message:
        """An earlier assistant turn as the template writes it (`after_last_question`: in the current episode)."""

    @abstractmethod
    def _named_call_prefix(self, name: str) -> str: ...

    # --- read --------------------------------------------------------------------------------------------
    @abstractmethod
    def _scanners(self, tools: list[ToolSpec]) -> list[Scanner]: ...

    def _split(self, text: str, final: bool) -> ThinkSplit | None:
        return split_thinking(text, opened=self.think_opened, call_markers=self.call_markers, final=final)

    def _parse(self, text: str, tools: list[ToolSpec]) -> ParsedTurn:
        split = self._split(text, final=True)
        assert split is not None  # a final split always settles
        body = scan(text, split.body_start, self._scanners(tools), final=True)
        calls = without_schema_echo(body.calls, tools)
        return ParsedTurn(content=body.content.strip(), reasoning=split.reasoning, tool_calls=calls)

    def reader(self, tools: Sequence[ToolSpec] = (), prefill: str = "") -> TurnReader:
        return NativeReader(self, tools, prefill)


def group_tool_results(messages: list[Message], render_results: Callable[[list[Message]], str]) -> list[Message]:
    """`messages` with each run of consecutive `tool` messages turned into one user message."""
    out: list[Message] = []
    run: list[Message] = []
    for m in [*messages, None]:
        if m is not None and m.role == "tool":
            run.append(m)
            continue
        if run:
            out.append(Message.user(render_results(run)))
            run = []
        if m is not None:
            out.append(m)
    return out


class NativeReader(TurnReader):
    """Streams the answer text of a native format as it settles; calls and reasoning come whole at `finish`."""

    def __init__(self, fmt: NativeFormat, tools: Sequence[ToolSpec] = (), prefill: str = "") -> None:
        super().__init__(fmt, tools, prefill)
        self._native = fmt
        self._scanners = fmt._scanners(list(tools))
        self._buffer = prefill
        self._pos: int | None = None  # where the answer starts, once reasoning is settled
        self._watch_close = False  # the answer seemed to start at 0: a lone `</think>` may yet make it reasoning
        self._content = ""  # answer text of the settled part, unstripped
        self._broken = False

    def feed(self, delta: str) -> str:
        self._text += delta
        self._buffer += delta
        if self._broken:
            return ""
        try:
            return self._advance()
        except Exception:  # showing less is safe: finish() still reads the whole text
            log.exception("%s format: streaming read failed; the rest of this turn comes at finish", self._fmt.name)
            self._broken = True
            return ""

    def _advance(self) -> str:
        if self._pos is None or self._watch_close:
            split = self._native._split(self._buffer, final=False)
            if split is None:
                return ""
            if self._pos is None:
                self._pos = split.body_start
                self._watch_close = split.body_start == 0
            elif split.body_start > 0:  # a lone `</think>`: what was shown was reasoning; the answer starts over
                self._pos, self._content, self.shown = split.body_start, "", ""
                self._watch_close = False
        settled = scan(self._buffer, self._pos, self._scanners, final=False)
        self._content += settled.content
        self._pos = settled.end
        visible = self._content.strip()
        new = visible[len(self.shown):]
        self.shown = visible
        return new
