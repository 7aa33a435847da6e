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

import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from qwen_agent.formats.hermes import CALL_CLOSE, CALL_OPEN
from qwen_agent.schema import CallConstraint, ToolSpec

logger = logging.getLogger(__name__)

REACT_OPEN = "Action:"
REACT_STOP = "Observation:"
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
    """

    opener: str
    grammar: str


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
        key = constraint.model_dump_json(exclude={"prefill"})
        if key not in self._shapes:
            self._shapes[key] = self._build(constraint, ll)
        shapes = self._shapes[key]
        if not shapes:
            return None
        return CallGuide(ll, shapes, self._token_text, constraint.prefill)

    def _token_text(self, token: int) -> str:
        return self._tokenizer.decode([token])

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
            return self._shapes_of([(re.escape(REACT_OPEN), lambda loose: _react_body(tools, loose))], ll)
        close = self._literal(CALL_CLOSE, ll)
        untagged = [(head + re.escape(json.dumps(tool.name, ensure_ascii=False)),
                     lambda loose, tool=tool, fenced=fenced: _untagged_body(tool, tools, loose, fenced=fenced))
                    for head, fenced in ((_FENCE_HEAD, True), (_BARE_HEAD, False)) for tool in tools]
        return self._shapes_of([(re.escape(CALL_OPEN), lambda loose: _tagged_body(tools, loose, close)), *untagged],
                               ll)

    @staticmethod
    def _shapes_of(bodies: Sequence[tuple[str, Callable[[bool], str]]], ll: Any) -> tuple[CallShape, ...]:
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
                    shapes.append(CallShape(opener, grammar))
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

    Use: `logits = guide.mask(logits)` before choosing each token, `guide.advance(token)` after.

    Args:
        ll: llguidance's tokenizer.
        shapes: the ways a call may open; where two openers match the same text, the one starting first wins
            (a fence before the bare object inside it).
        token_text: token id -> its text (to spot an opener).
        prefill: what the turn already starts with; read as if the model had written it.
    """

    def __init__(self, ll: Any, shapes: Sequence[CallShape], token_text: Callable[[int], str],
                 prefill: str) -> None:
        self._ll = ll
        self._shapes = tuple(shapes)
        self._openers = re.compile("|".join(f"(?P<s{i}>{s.opener})" for i, s in enumerate(self._shapes)))
        self._token_text = token_text
        self._recent = "\n"  # free text since the last call, as far back as an opener could start; the turn's
        # start is a line's start
        self._matcher: Any = None
        self.calls = 0  # calls opened so far
        self._read_free(prefill)

    @property
    def active(self) -> bool:
        """Inside a call: the next token is constrained."""
        return self._matcher is not None

    def mask(self, logits: Any) -> Any:
        """`logits` ([1, vocab]) with the tokens the grammar rules out at -inf (unchanged outside a call)."""
        if self._matcher is None:
            return logits
        import numpy as np
        import torch

        # one bit per token, lowest bit first; unpacked by numpy on one thread (torch's pool is slow for this)
        allowed = np.unpackbits(np.frombuffer(self._matcher.compute_bitmask(), dtype=np.uint8), bitorder="little")
        vocab = logits.shape[-1]
        blocked = np.ones(vocab, dtype=bool)
        n = min(vocab, allowed.size)
        blocked[:n] = allowed[:n] == 0
        return logits.masked_fill(torch.from_numpy(blocked).to(logits.device), float("-inf"))

    def advance(self, token: int) -> None:
        """The model chose `token`."""
        if self._matcher is None:
            self._read_free(self._token_text(token))
            return
        if not self._matcher.consume_token(token):  # cannot happen with the mask applied; never wedge the turn
            logger.warning("constrained tool call: the grammar refused a token (%s); the rest is free",
                           self._matcher.get_error())
            self._matcher = None
        elif self._matcher.is_stopped():
            self._matcher = None

    def _read_free(self, text: str) -> None:
        window = self._recent + text
        found = self._openers.search(window)
        if found is None:
            self._recent = window[-_WINDOW:]
            return
        self._open(self._shapes[int(found.lastgroup[1:])], window[found.end():])  # type: ignore[index]

    def _open(self, shape: CallShape, rest: str) -> None:
        import llguidance

        self.calls += 1
        self._recent = ""
        self._matcher = llguidance.LLMatcher(self._ll, shape.grammar, log_level=0)
        if rest and not self._matcher.consume_tokens(self._ll.tokenize_str(rest)):
            logger.warning("constrained tool call: the text after the opener does not fit the grammar (%r); "
                           "this call is free", rest[:80])
            self._matcher = None
