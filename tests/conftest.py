"""Shared fixtures. Tests may read ../shared (the package never does)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QWEN_AGENT_SHARED_DIR", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}; set QWEN_AGENT_SHARED_DIR")
    return SHARED


@pytest.fixture(scope="session")
def qwen_vocab(shared_dir: Path) -> Path:
    return shared_dir / "data" / "qwen" / "qwen.tiktoken"


@pytest.fixture(scope="session")
def qwen_tokenizer(qwen_vocab: Path):
    from qwen_agent.llm.tokenizer import QwenTokenizer

    return QwenTokenizer.from_pretrained(qwen_vocab)
