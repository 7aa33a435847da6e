"""An OpenAI-compatible HTTP server over any `LLM`, with function calling for text-only models.

    from qwen_agent.server import create_app, ServerThread
    with ServerThread(create_app(llm, model_name="qwen")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")

Needs the `server` extra (fastapi, uvicorn), imported on first use of these names (so `qwen-agent run`, which
registers the `serve` command, never loads them, and a missing extra says what to install when serving).
`qwen-agent serve` runs it from the command line.
"""

from __future__ import annotations

from typing import Any

_NAMES = {"create_app": "qwen_agent.server.app", "APIError": "qwen_agent.server.protocol",
          "ServerThread": "qwen_agent.server.serving", "serve": "qwen_agent.server.serving"}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'qwen_agent.server' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_NAMES[name]), name)


__all__ = ["APIError", "ServerThread", "create_app", "serve"]
