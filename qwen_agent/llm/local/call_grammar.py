"""Tool calls that can only be valid: constrained decoding of a call once the model opens one (local backend).

The model writes freely (answer text, reasoning) until it opens a call in one of the shapes its format's
reader takes; from there a grammar decides which tokens may come next, until the call is closed, and then the
model is free again (several calls may follow). The shapes (`CallShape`: an opener, and the grammar of what
follows it):

- Hermes `<tool_call>`: the name is one of the offered tools, and the arguments are JSON that matches that
  tool's schema (types, enums, required keys), laid out as the chat template writes it, then `</tool_call>`;
- Hermes untagged, as small Qwen2.5 models mostly write their calls: a ```json fence whose first line opens
  `{"name": "<an offered tool>"`, or a bare `{"name": "<an offered tool>"` at the start of a line. The rest is
  held: the arguments match that tool's schema (one line or pretty-printed), the object closes, and a fence
  closes. A name no tool has is left alone: the 0.5B writes `{"name": "good morning", ...}` as its answer to a
  translation, and holding that to an offered tool ran `get_weather("Paris")` instead (measured on
  benchmarks.real_tool_use: two no-tool questions turned into wandering calls);
- ReAct `Action:`: an offered tool's name, then `Action Input:` with arguments that match its schema.

A forced call (`tool_choice="required"` or a named tool) is the `<tool_call>` grammar from the first token: its
opener is already in the turn's prefill, which is read like model output.

Masks come from llguidance (the `grammar` extra), which vLLM and SGLang also use for structured output. The
text before an opener costs one regex search over its last characters per token (microseconds); the grammar
only runs inside a call (1-3 ms a token there, under 1% of a decode step of the 0.5B on a CPU; see
`benchmarks.call_grammar`). Qwen3-Coder's XML calls are not constrained yet (their string values are raw text
up to `</parameter>`).
"""

from __future__ import annotations

import bisect
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from qwen_agent.formats.hermes import CALL_CLOSE, CALL_OPEN
from qwen_agent.schema import CallConstraint, ToolCall, ToolSpec

logger = logging.getLogger(__name__)

REACT_OPEN = "Action:"
REACT_STOP = "Observation:"
_REACT_INPUT = "Action Input:"
# JSON laid out as the chat templates' `tojson` writes it: `{"a": 1, "b": [2, 3]}`
_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
# untagged calls: one line (`, ` and `: `) or pretty-printed (a line break and its indent); one gap holds at most
# one line break, so a call cannot fill the turn with blanks
_WS = r"(?:\r?\n[ \t]{0,24}|[ ]{1,4})"
_FLEXIBLE = {"whitespace_flexible": True, "whitespace_pattern": _WS}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}
# what opens an untagged call: `{"name": "<tool>"` at a line's start, or on the line after a fence's opening
_BARE_HEAD = r'\n[ \t]*\{\s*"name"\s*:\s*'
_FENCE_HEAD = r'```(?:json)?[ \t]*\r?\n[ \t]*\{\s*"name"\s*:\s*'
_WINDOW = 160  # free text kept to spot an opener in (longer than any opener but a pathological one)


@dataclass(frozen=True)
class CallShape:
    """One way the model opens a call.

    Attributes:
        opener: a regex over the model's free text that matches once the call is committed to.
        grammar: llguidance's grammar of the text that follows the opener, up to the call's end.
        read: the call's text (from its opener) -> the calls it holds ([] when unreadable).
    """

    opener: str
    grammar: str
    read: Callable[[str], list[ToolCall]] = field(default=lambda text: [], compare=False)


def llguidance_present() -> bool:
    """Whether the `grammar` extra (llguidance) is installed."""
    import importlib.util

    return importlib.util.find_spec("llguidance") is not None


class CallGrammar:
    """A backend's means to constrain calls: its tokenizer as llguidance reads it (built once, about a second
    on a quiet machine), and each constraint's grammar text, cached.

    Args:
        tokenizer: a transformers fast tokenizer, or a `QwenTokenizer` (tiktoken, Qwen-1 checkpoints).
        vocab_size: the width of the model's logits (may exceed the tokenizer's vocabulary).
        eos_ids: the tokens that end a generation.
    """

    def __init__(self, tokenizer: Any, vocab_size: int, eos_ids: Sequence[int]) -> None:
        self._tokenizer = tokenizer
        self._vocab_size = vocab_size
        self._eos = sorted(eos_ids)
        self._ll: Any = None
        self._shapes: dict[str, tuple[CallShape, ...]] = {}

    def guide(self, constraint: CallConstraint | None) -> CallGuide | None:
        """A fresh per-generation guide for `constraint`; None when there is none or its format is not
        constrained (Qwen3-Coder), or its grammar cannot be built (logged)."""
        if constraint is None or not constraint.tools:
            return None
        if constraint.format not in ("hermes", "react"):
            logger.debug("tool calls in the %s format are not constrained", constraint.format)
            return None
        ll = self._llguidance_tokenizer()
        key = constraint.model_dump_json(exclude={"prefill", "ran"})
        if key not in self._shapes:
            self._shapes[key] = self._build(constraint, ll)
        shapes = self._shapes[key]
        if not shapes:
            return None
        ran = frozenset(call.identity() for call in constraint.ran)
        return CallGuide(ll, shapes, self._decode, constraint.prefill, ran)

    def _decode(self, tokens: Sequence[int]) -> str:
        return self._tokenizer.decode(list(tokens))

    def _llguidance_tokenizer(self) -> Any:
        if self._ll is None:
            from qwen_agent.llm.tokenizer import QwenTokenizer

            if isinstance(self._tokenizer, QwenTokenizer):
                from llguidance.tiktoken import lltokenizer_from_encoding

                self._ll = lltokenizer_from_encoding(self._tokenizer._enc, n_vocab=self._vocab_size,
                                                     eos_token=self._eos)
            else:
                from llguidance.hf import from_tokenizer

                self._ll = from_tokenizer(self._tokenizer, n_vocab=self._vocab_size, eos_token=self._eos)
        return self._ll

    def _build(self, constraint: CallConstraint, ll: Any) -> tuple[CallShape, ...]:
        """The call shapes of the constraint's format; a shape whose grammar cannot be built is left out
        (logged)."""
        tools = constraint.tools
        if constraint.format == "react":
            return self._shapes_of([(re.escape(REACT_OPEN), lambda loose: _react_body(tools, loose))], ll,
                                   _react_calls)
        close = self._literal(CALL_CLOSE, ll)
        untagged = [(head + re.escape(json.dumps(tool.name, ensure_ascii=False)),
                     lambda loose, tool=tool, fenced=fenced: _untagged_body(tool, tools, loose, fenced=fenced))
                    for head, fenced in ((_FENCE_HEAD, True), (_BARE_HEAD, False)) for tool in tools]
        return self._shapes_of([(re.escape(CALL_OPEN), lambda loose: _tagged_body(tools, loose, close)), *untagged],
                               ll, _json_calls)

    @staticmethod
    def _shapes_of(bodies: Sequence[tuple[str, Callable[[bool], str]]], ll: Any,
                   read: Callable[[str], list[ToolCall]]) -> tuple[CallShape, ...]:
        """Each (opener, lark text of its grammar, strict or loose) compiled; a tool whose schema llguidance
        refuses gets arguments that are any JSON object (logged)."""
        import llguidance

        shapes = []
        for opener, body in bodies:
            for loose in (False, True):
                grammar = llguidance.LLMatcher.grammar_from_lark(body(loose))
                error = llguidance.LLMatcher.validate_grammar(grammar, ll)
                if not error or error.startswith("WARNING"):
                    if loose:
                        logger.warning("a tool's parameter schema cannot be enforced; its arguments are only "
                                       "constrained to a JSON object")
                    shapes.append(CallShape(opener, grammar, read))
                    break
                logger.debug("call grammar refused (%s): %s", "loose" if loose else "strict", error)
            else:
                logger.warning("tool calls opened by %r are not constrained: no grammar could be built", opener)
        return tuple(shapes)

    @staticmethod
    def _literal(text: str, ll: Any) -> str:
        """`text` in a lark grammar: the special token it is in this vocabulary, else the string."""
        ids = ll.tokenize_str(text, parse_special=True)
        if len(ids) == 1 and ll.is_special_token(ids[0]):
            return f"<[{ids[0]}]>"
        return json.dumps(text)


def _tagged_body(tools: Sequence[ToolSpec], loose: bool, close: str) -> str:
    """`\\n{"name": ..., "arguments": {...}}\\n</tool_call>`: the object's name picks the arguments' schema."""
    schema = {"anyOf": [_call_object(t, loose) for t in tools], "x-guidance": _LAYOUT}
    return f'start: "\\n" call "\\n" {close}\ncall: %json {json.dumps(schema)}\n'


def _untagged_body(tool: ToolSpec, tools: Sequence[ToolSpec], loose: bool, *, fenced: bool) -> str:
    """What follows `{"name": "<tool>"` in an untagged call: that tool's arguments and the object closed; in a
    fence, any further call objects (each naming an offered tool), then the closing fence."""
    args = {**(_ANY_OBJECT if loose else _arguments(tool)), "x-guidance": _FLEXIBLE}
    lines = ['start: COMMA "\\"arguments\\"" COLON args WS? "}"' + (" rest" if fenced else ""),
             f"args: %json {json.dumps(args)}",
             f"COMMA: /({_WS})?,({_WS})?/", f"COLON: /({_WS})?:({_WS})?/", f"WS: /{_WS}/"]
    if fenced:
        calls = {"anyOf": [_call_object(t, loose) for t in tools], "x-guidance": _FLEXIBLE}
        lines += ['rest: WS? ("```" | ("," WS?)? call rest)', f"call: %json {json.dumps(calls)}"]
    return "\n".join(lines) + "\n"


def _call_object(tool: ToolSpec, loose: bool) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"name": {"const": tool.name}, "arguments": _ANY_OBJECT if loose else _arguments(tool)},
        "required": ["name", "arguments"],
        "additionalProperties": False,
    }


def _arguments(tool: ToolSpec) -> dict[str, Any]:
    """A tool's parameter schema as the grammar takes it (an object, whatever its declared type)."""
    schema = dict(tool.parameters or _ANY_OBJECT)
    schema.setdefault("type", "object")
    return schema


def _react_body(tools: Sequence[ToolSpec], loose: bool) -> str:
    """` name\\nAction Input: {...}\\nObservation:` (the stop string that ends the turn)."""
    lines = [f"start: \" \" ({' | '.join(f't{i}' for i in range(len(tools)))}) {json.dumps(chr(10) + REACT_STOP)}"]
    for i, tool in enumerate(tools):
        schema = {**(_ANY_OBJECT if loose else _arguments(tool)), "x-guidance": _LAYOUT}
        lines.append(f"t{i}: {json.dumps(tool.name + chr(10) + 'Action Input: ')} a{i}")
        lines.append(f"a{i}: %json {json.dumps(schema)}")
    return "\n".join(lines) + "\n"


class CallGuide:
    """One generation's constraint: free until an opener, then that shape's grammar until the call closes.

    Use: `logits = guide.mask(logits)` before choosing each token, `keep = guide.advance(token)` after. With
    `ran` calls, a call that closes identical to one of them (same tool, same arguments after `ToolCall.identity`'s
    normalisation) is taken back: `advance` returns how many of the turn's tokens to keep (those before the
    token the call opened with), the guide is back in that state, and that token is banned at that position, so
    the model writes its next-best continuation. At most `MAX_REWINDS` per generation; then calls are left as
    written. While a call may still be taken back, `held_from` says from which token the text must not be shown.

    Args:
        ll: llguidance's tokenizer.
        shapes: the ways a call may open; where two openers match the same text, the one starting first wins
            (a fence before the bare object inside it).
        decode: token ids -> their text (to spot an opener, and to read a closed call).
        prefill: what the turn already starts with; read as if the model had written it.
        ran: the identities (`ToolCall.identity`) of the calls already run.
    """

    MAX_REWINDS = 2

    def __init__(self, ll: Any, shapes: Sequence[CallShape], decode: Callable[[Sequence[int]], str],
                 prefill: str, ran: frozenset[tuple[str, str]] = frozenset()) -> None:
        self._ll = ll
        self._shapes = tuple(shapes)
        pattern = "|".join(f"(?P<s{i}>{s.opener})" for i, s in enumerate(self._shapes))
        self._openers = re.compile(pattern)
        self._decode = decode
        self._prefill = prefill
        self._ran = ran
        self._partial = _partial_openers(pattern) if ran else None
        self._bans: dict[int, set[int]] = {}  # position in the turn -> tokens banned there
        self.rewinds = 0  # calls taken back so far
        self._start()

    def _start(self) -> None:
        self._recent = "\n"  # free text since the last call, as far back as an opener could start; the turn's
        # start is a line's start
        self._matcher: Any = None
        self._shape: CallShape | None = None
        self._opened_at: int | None = None  # the token the open call started in (None: in the prefill)
        self._hold: int | None = None  # the first token of what may still grow into an opener
        self.tokens: list[int] = []  # the turn's tokens so far
        self._ends: list[int] = []  # the text's length after each token (prefill included)
        self._read = 0
        self.calls = 0  # calls opened so far
        self._read_free(self._prefill)
        self._read = len(self._prefill)

    @property
    def active(self) -> bool:
        """Inside a call: the next token is constrained."""
        return self._matcher is not None

    @property
    def steers(self) -> bool:
        """The next token is constrained (inside a call) or a token is banned at its position."""
        return self._matcher is not None or bool(self._bans.get(len(self.tokens)))

    @property
    def held_from(self) -> int | None:
        """The index of the first token that may still be taken back (None: every token is settled)."""
        if not self._can_rewind:
            return None
        return self._opened_at if self._matcher is not None else self._hold

    @property
    def _can_rewind(self) -> bool:
        return bool(self._ran) and self.rewinds < self.MAX_REWINDS

    def mask(self, logits: Any) -> Any:
        """`logits` ([1, vocab]) with the tokens the grammar rules out, and those banned here, at -inf."""
        banned = self._bans.get(len(self.tokens))
        if self._matcher is None and not banned:
            return logits
        import numpy as np
        import torch

        vocab = logits.shape[-1]
        blocked = np.zeros(vocab, dtype=bool)
        if self._matcher is not None:
            # one bit per token, lowest bit first; unpacked by numpy on one thread (torch's pool is slow for this)
            allowed = np.unpackbits(np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8),
                                    bitorder="little")
            blocked[:] = True
            n = min(vocab, allowed.size)
            blocked[:n] = allowed[:n] == 0
        for token in banned or ():
            if token < vocab:
                blocked[token] = True
        return logits.masked_fill(torch.from_numpy(blocked).to(logits.device), float("-inf"))

    def advance(self, token: int) -> int | None:
        """The model chose `token`. None, or, when it closed a call that repeats one already run, the number of
        the turn's tokens to keep: the caller drops the rest and chooses the token at that position again."""
        opened_at = self._step(token)
        if opened_at is None or not self._can_rewind or not self._repeats(opened_at):
            return None
        return self._rewind(opened_at)

    def _step(self, token: int) -> int | None:
        """Read `token`; the index of the token a call opened in, when this token closed it."""
        self.tokens.append(token)
        text = self._decode([token])
        self._ends.append(self._read + len(text))
        if self._matcher is None:
            self._read_free(text)
            self._read += len(text)
            return None
        self._read += len(text)
        if not self._matcher.consume_token(token):  # cannot happen with the mask applied; never wedge the turn
            logger.warning("constrained tool call: the grammar refused a token (%s); the rest is free",
                           self._matcher.get_error())
            self._matcher = None
        elif self._matcher.is_stopped():
            self._matcher = None
            return self._opened_at
        return None

    def _repeats(self, opened_at: int) -> bool:
        """Every call written from token `opened_at` on already ran."""
        assert self._shape is not None
        calls = self._shape.read(self._decode(self.tokens[opened_at:]))
        return bool(calls) and all(c.identity() in self._ran for c in calls)

    def _rewind(self, opened_at: int) -> int:
        """Back to before token `opened_at`, which is banned there from now on."""
        self.rewinds += 1
        kept, banned = self.tokens[:opened_at], self.tokens[opened_at]
        self._bans = {at: tokens for at, tokens in self._bans.items() if at <= opened_at}
        self._bans.setdefault(opened_at, set()).add(banned)
        self._start()
        for token in kept:
            self._step(token)
        return opened_at

    def _read_free(self, text: str) -> None:
        window = self._recent + text
        start = self._read - len(self._recent)  # where the window starts in the turn's text
        found = self._openers.search(window)
        if found is None:
            self._recent = window[-_WINDOW:]
            self._hold = self._partial_start(window, start)
            return
        self._hold = None
        self._opened_at = self._token_at(start + found.start())
        self._open(self._shapes[int(found.lastgroup[1:])], window[found.end():])  # type: ignore[index]

    def _partial_start(self, window: str, start: int) -> int | None:
        """The token where the text that may still become an opener starts (only while calls can be taken
        back: its text is then held)."""
        if self._partial is None or not self._can_rewind:
            return None
        found = self._partial.search(window, partial=True)
        return None if found is None else self._token_at(start + found.start())

    def _token_at(self, offset: int) -> int | None:
        """The index of the turn's token whose text holds character `offset` (None: the prefill's)."""
        offset = max(offset, 0)  # the virtual line break before the turn belongs to its first token
        if offset < len(self._prefill) or not self._ends:
            return None
        return bisect.bisect_right(self._ends, offset)

    def _open(self, shape: CallShape, rest: str) -> None:
        import llguidance

        self.calls += 1
        self._recent = ""
        self._shape = shape
        self._matcher = llguidance.LLMatcher(self._ll, shape.grammar, log_level=0)
        if rest and not self._matcher.consume_tokens(self._ll.tokenize_str(rest)):
            logger.warning("constrained tool call: the text after the opener does not fit the grammar (%r); "
                           "this call is free", rest[:80])
            self._matcher = None


def _partial_openers(pattern: str) -> Any:
    """The openers compiled by `regex`, whose `partial=True` search also finds an opener's unfinished start."""
    import regex

    return regex.compile(pattern)


def _json_calls(text: str) -> list[ToolCall]:
    """The Hermes call objects (`{"name": ..., "arguments": {...}}`, one or several) in a call's text."""
    decoder = json.JSONDecoder()
    calls = []
    at = text.find("{")
    while at != -1:
        try:
            value, end = decoder.raw_decode(text, at)
        except ValueError:
            return []
        if not isinstance(value, dict) or not isinstance(value.get("name"), str):
            return []
        calls.append(ToolCall(name=value["name"], arguments=json.dumps(value.get("arguments", {}))))
        at = text.find("{", end)
    return calls


def _react_calls(text: str) -> list[ToolCall]:
    """The ReAct call (`Action: name` then `Action Input: {...}`) in a call's text."""
    action = text.find(REACT_OPEN)
    given = text.find(_REACT_INPUT, action)
    if action == -1 or given == -1:
        return []
    name = text[action + len(REACT_OPEN) : given].strip()
    try:
        value, _ = json.JSONDecoder().raw_decode(text, text.index("{", given))
    except ValueError:
        return []
    return [ToolCall(name=name, arguments=json.dumps(value))]
