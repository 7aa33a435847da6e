"""The Qwen (v1) tokenizer on tiktoken: the `qwen.tiktoken` BPE ranks, Qwen's split pattern and its specials.

Qwen-1 checkpoints ship `qwen.tiktoken` beside their weights; `QwenTokenizer.from_pretrained(path)` accepts
that file or the checkpoint folder that holds it. The package carries a copy (`BUNDLED_VOCAB`, Apache-2.0, from
QwenLM/Qwen-Agent; licence beside it), used by `QwenTokenizer.bundled()` for counting Qwen tokens without a
checkpoint.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Literal

from qwen_agent.errors import ConfigurationError, MissingDependencyError
from qwen_agent.prompts.chatml import ENDOFTEXT, IM_END, IM_START, chatml_turns, render_chatml
from qwen_agent.schema import Message

VOCAB_FILE = "qwen.tiktoken"
BUNDLED_VOCAB = Path(__file__).parent / "data" / VOCAB_FILE
# Qwen's pre-tokenizer regex (case-insensitive English contractions, letters, single digits, punctuation runs,
# newlines, whitespace).
SPLIT_PATTERN = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
)
SPECIAL_START_ID = 151643
SPECIAL_TOKENS: tuple[str, ...] = (ENDOFTEXT, IM_START, IM_END) + tuple(f"<|extra_{i}|>" for i in range(205))


def load_ranks(path: str | Path) -> dict[bytes, int]:
    """Read a `.tiktoken` file: one `base64-token rank` pair per line."""
    ranks: dict[bytes, int] = {}
    with open(path, "rb") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                token, rank = line.split()
                ranks[base64.b64decode(token)] = int(rank)
            except ValueError as e:
                raise ConfigurationError(f"{path}:{lineno}: not a tiktoken vocabulary line") from e
    return ranks


def check_ranks(ranks: dict[bytes, int], path: str | Path) -> None:
    """Raise ConfigurationError unless `ranks` is a usable byte-level BPE vocabulary for Qwen's specials: every
    single byte present (else encoding some text fails deep in tiktoken), ranks distinct and below the first
    special-token id."""
    if not ranks:
        raise ConfigurationError(f"{path}: empty tiktoken vocabulary")
    missing = sum(1 for b in range(256) if bytes([b]) not in ranks)
    if missing:
        raise ConfigurationError(f"{path}: {missing} of the 256 single-byte tokens are missing; not a BPE vocabulary")
    if len(set(ranks.values())) != len(ranks):
        raise ConfigurationError(f"{path}: two tokens share a rank")
    if max(ranks.values()) >= SPECIAL_START_ID:
        raise ConfigurationError(f"{path}: ranks reach {max(ranks.values())}, into Qwen's special-token ids")


class QwenTokenizer:
    """Encode, decode and count with Qwen's vocabulary; render and encode ChatML conversations."""

    def __init__(self, vocab_file: str | Path) -> None:
        try:
            import tiktoken
        except ImportError as e:
            raise MissingDependencyError("tiktoken", "tokenizer", "The Qwen tokenizer") from e
        path = Path(vocab_file)
        if not path.is_file():
            raise ConfigurationError(f"Qwen vocabulary file not found: {path}")
        ranks = load_ranks(path)
        check_ranks(ranks, path)
        self.special_tokens = {tok: SPECIAL_START_ID + i for i, tok in enumerate(SPECIAL_TOKENS)}
        self._enc = tiktoken.Encoding(
            "qwen", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=self.special_tokens
        )
        self.vocab_file = path
        self.eod_id = self.special_tokens[ENDOFTEXT]
        self.im_start_id = self.special_tokens[IM_START]
        self.im_end_id = self.special_tokens[IM_END]

    @classmethod
    def from_pretrained(cls, path: str | Path) -> QwenTokenizer:
        """From a `qwen.tiktoken` file, or a folder (e.g. a Qwen-1 checkpoint) that contains one."""
        p = Path(path)
        return cls(p / VOCAB_FILE if p.is_dir() else p)

    @classmethod
    def bundled(cls) -> QwenTokenizer:
        """The Qwen-1 vocabulary that ships inside the package."""
        return cls(BUNDLED_VOCAB)

    @property
    def vocab_size(self) -> int:
        return self._enc.n_vocab

    def encode(self, text: str, *, allowed_special: Literal["all"] | Collection[str] = "all") -> list[int]:
        """Token ids of `text`. Special-token text is encoded as the special token only when allowed."""
        allowed = self._enc.special_tokens_set if allowed_special == "all" else set(allowed_special)
        return self._enc.encode(text, allowed_special=allowed, disallowed_special=())

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of `text`, treating special-token text as ordinary characters (for untrusted content)."""
        return self._enc.encode_ordinary(text)

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`. Ids the vocabulary lacks decode to nothing: Qwen-1 checkpoints pad their embedding to
        151,936 rows past the 151,851 tokens, and a sampled (or random-weight) model can emit those rows."""
        try:
            return self._enc.decode(list(ids), errors="replace")
        except KeyError:
            n = self._enc.n_vocab
            return self._enc.decode([i for i in ids if 0 <= i < n], errors="replace")

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def tokenize(self, text: str) -> list[bytes]:
        """The byte strings of each token of `text`."""
        return [self._enc.decode_single_token_bytes(t) for t in self.encode(text)]

    def token_strings(self, text: str) -> list[str]:
        """Each token as text; bytes that are part of a multi-byte character are shown as `\\xNN` escapes,
        so distinct tokens stay distinct."""
        return [b.decode("utf-8", errors="backslashreplace") for b in self.tokenize(text)]

    def render_chat(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
        return render_chatml(messages, add_generation_prompt=add_generation_prompt)

    def encode_chat(self, messages: Sequence[Message], *, add_generation_prompt: bool = True) -> list[int]:
        """Token ids of a ChatML conversation. Role markers become special tokens; message content is encoded
        as ordinary text, so content cannot inject `<|im_end|>`."""
        ids: list[int] = []
        for role, content, closed in chatml_turns(messages, add_generation_prompt=add_generation_prompt):
            ids.append(self.im_start_id)
            ids.extend(self.encode_ordinary(f"{role}\n{content}"))
            if closed:
                ids.append(self.im_end_id)
                ids.extend(self.encode_ordinary("\n"))
        return ids
