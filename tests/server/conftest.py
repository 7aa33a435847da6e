"""A real uvicorn server on 127.0.0.1 (random port) backed by ScriptedLLM, and the real openai client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import openai
import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.server import ServerThread, create_app

MODEL = "qwen-scripted"


@contextmanager
def running(llm, **kwargs) -> Iterator[ServerThread]:
    kwargs.setdefault("model_name", MODEL)
    with ServerThread(create_app(llm, **kwargs)) as server:
        yield server


@pytest.fixture
def serve_scripted() -> Iterator[Callable[..., tuple[ScriptedLLM, openai.OpenAI, ServerThread]]]:
    """serve_scripted(responses, **create_app kwargs) -> (llm, client, server); stopped after the test."""
    stack = []

    def start(responses, *, chunk_size: int = 3, api_key: str | None = None, **kwargs):
        kwargs.setdefault("tool_format", "react")
        llm = ScriptedLLM(responses, chunk_size=chunk_size)
        cm = running(llm, api_key=api_key, **kwargs)
        server = cm.__enter__()
        stack.append(cm)
        client = openai.OpenAI(base_url=server.base_url, api_key=api_key or "none", max_retries=0, timeout=20)
        return llm, client, server

    yield start
    for cm in reversed(stack):
        cm.__exit__(None, None, None)
