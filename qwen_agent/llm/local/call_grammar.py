"""Tool calls that can only be valid: constrained decoding of a call once the model opens one (local backend).

The model writes freely (answer text, reasoning) until it writes its format's call opener (Hermes
`<tool_call>`, ReAct `Action:`); from there a grammar decides which tokens may come next, until the call is
closed, and then the model is free again (several calls may follow). The grammar says: the name is one of the
offered tools, and the arguments are JSON that matches that tool's schema (types, enums, required keys), laid
out as the chat template writes it. A forced call (`tool_choice="required"` or a named tool) is the same
grammar from the first token: its opener is already in the turn's prefill, which is read like model output.

Masks come from llguidance (the `grammar` extra), which vLLM and SGLang also use for structured output. The
text before an opener costs nothing: the grammar only runs inside a call (about 1 ms a token there, against
tens of ms for a decode step of the 0.5B on a CPU; see `benchmarks.call_grammar`). Qwen3-Coder's XML calls
are not constrained yet (their string values are raw text up to `</parameter>`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from qwen_agent.formats.hermes import CALL_CLOSE, CALL_OPEN
from qwen_agent.schema import CallConstraint, ToolSpec

logger = logging.getLogger(__name__)

REACT_OPEN = "Action:"
REACT_STOP = "Observation:"
# JSON laid out as the chat templates' `tojson` writes it: `{"a": 1, "b": [2, 3]}`
_LAYOUT = {"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


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
        self._grammars: dict[str, str | None] = {}

    def guide(self, constraint: CallConstraint | None) -> CallGuide | None:
        """A fresh per-generation guide for `constraint`; None when there is none or its format is not
        constrained (Qwen3-Coder), or its grammar cannot be built (logged)."""
        if constraint is None or not constraint.tools:
            return None
        opener = {"hermes": CALL_OPEN, "react": REACT_OPEN}.get(constraint.format)
        if opener is None:
            logger.debug("tool calls in the %s format are not constrained", constraint.format)
            return None
        ll = self._llguidance_tokenizer()
        key = constraint.model_dump_json(exclude={"prefill"})
        if key not in self._grammars:
            self._grammars[key] = self._build(constraint, ll)
        grammar = self._grammars[key]
        if grammar is None:
            return None
        return CallGuide(ll, grammar, opener, self._token_text, constraint.prefill)

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

    def _build(self, constraint: CallConstraint, ll: Any) -> str | None:
        """The grammar text of what follows the opener; tools whose schema llguidance refuses get arguments
        that are any JSON object (logged); None when even that fails."""
        import llguidance

        body = {"hermes": self._hermes_body, "react": _react_body}[constraint.format]
        for loose in (False, True):
            lark = body(constraint.tools, loose, ll)
            grammar = llguidance.LLMatcher.grammar_from_lark(lark)
            error = llguidance.LLMatcher.validate_grammar(grammar, ll)
            if not error or error.startswith("WARNING"):
                if loose:
                    logger.warning("a tool's parameter schema cannot be enforced; its arguments are only "
                                   "constrained to a JSON object")
                return grammar
            logger.debug("call grammar refused (%s): %s", "loose" if loose else "strict", error)
        logger.warning("tool calls are not constrained this turn: no grammar could be built")
        return None

    def _hermes_body(self, tools: Sequence[ToolSpec], loose: bool, ll: Any) -> str:
        """`\\n{"name": ..., "arguments": {...}}\\n</tool_call>`: the object's name picks the arguments' schema."""
        schema = {"anyOf": [_call_object(t, loose) for t in tools], "x-guidance": _LAYOUT}
        return f'start: "\\n" call "\\n" {self._literal(CALL_CLOSE, ll)}\ncall: %json {json.dumps(schema)}\n'

    def _literal(self, text: str, ll: Any) -> str:
        """`text` in a lark grammar: the special token it is in this vocabulary, else the string."""
        ids = ll.tokenize_str(text, parse_special=True)
        if len(ids) == 1 and ll.is_special_token(ids[0]):
            return f"<[{ids[0]}]>"
        return json.dumps(text)


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


def _react_body(tools: Sequence[ToolSpec], loose: bool, ll: Any) -> str:
    """` name\\nAction Input: {...}\\nObservation:` (the stop string that ends the turn)."""
    lines = [f"start: \" \" ({' | '.join(f't{i}' for i in range(len(tools)))}) {json.dumps(chr(10) + REACT_STOP)}"]
    for i, tool in enumerate(tools):
        schema = {**(_ANY_OBJECT if loose else _arguments(tool)), "x-guidance": _LAYOUT}
        lines.append(f"t{i}: {json.dumps(tool.name + chr(10) + 'Action Input: ')} a{i}")
        lines.append(f"a{i}: %json {json.dumps(schema)}")
    return "\n".join(lines) + "\n"


class CallGuide:
    """One generation's constraint: free until the opener, then the grammar's mask until the call closes.

    Use: `logits = guide.mask(logits)` before choosing each token, `guide.advance(token)` after.

    Args:
        ll: llguidance's tokenizer.
        grammar: the grammar of what follows the opener.
        opener: the text that opens a call.
        token_text: token id -> its text (to spot the opener).
        prefill: what the turn already starts with; read as if the model had written it.
    """

    def __init__(self, ll: Any, grammar: str, opener: str, token_text: Callable[[int], str], prefill: str) -> None:
        self._ll = ll
        self._grammar = grammar
        self._opener = opener
        self._token_text = token_text
        self._recent = ""  # free text since the last call, as far back as an opener could start
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
        at = window.find(self._opener)
        if at == -1:
            self._recent = window[-(len(self._opener) - 1):]
            return
        self._open(window[at + len(self._opener):])

    def _open(self, rest: str) -> None:
        import llguidance

        self.calls += 1
        self._recent = ""
        self._matcher = llguidance.LLMatcher(self._ll, self._grammar, log_level=0)
        if rest and not self._matcher.consume_tokens(self._ll.tokenize_str(rest)):
            logger.warning("constrained tool call: the text after the opener does not fit the grammar (%r); "
                           "this call is free", rest[:80])
            self._matcher = None
