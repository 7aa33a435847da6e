"""An OpenAI-compatible HTTP server over any `LLM`, with function calling for text-only models.

    from qwen_agent.server import create_app, ServerThread
    with ServerThread(create_app(llm, model_name="qwen")) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")

Needs the `server` extra (fastapi, uvicorn). `qwen-agent serve` runs it from the command line.
"""

from qwen_agent.server.app import create_app
from qwen_agent.server.protocol import APIError
from qwen_agent.server.runner import ServerThread, serve

__all__ = ["APIError", "ServerThread", "create_app", "serve"]
