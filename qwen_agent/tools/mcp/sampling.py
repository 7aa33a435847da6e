"""MCP sampling: a server asks the client's model for a completion (`sampling/createMessage`).

Given `MCPToolset(sampling_llm=llm)`, the toolset advertises the sampling capability and answers such requests
with `llm` (run in a worker thread, so the event loop keeps serving other calls). Text content only: images in a
sampling request are described, not shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from qwen_agent.llm.base import LLM
from qwen_agent.schema import GenerationConfig, Message


def sampling_callback(llm: LLM) -> Callable[[Any, Any], Awaitable[Any]]:
    """An SDK `sampling_callback` that answers with `llm`."""

    async def answer(context: Any, params: Any) -> Any:
        from mcp_types import CreateMessageResult, TextContent

        messages = ([Message.system(params.system_prompt)] if params.system_prompt else []) + [
            _message(m) for m in params.messages]
        config = GenerationConfig(max_tokens=params.max_tokens,
                                  temperature=params.temperature if params.temperature is not None else 0.0)
        stop = list(params.stop_sequences or [])
        generation = await anyio.to_thread.run_sync(lambda: llm.generate(messages, stop=stop, config=config))
        return CreateMessageResult(role="assistant", content=TextContent(type="text", text=generation.text),
                                   model=llm.model_name, stop_reason="endTurn")

    return answer


def _message(sampling_message: Any) -> Message:
    blocks = sampling_message.content if isinstance(sampling_message.content, list) else [sampling_message.content]
    text = "\n".join(b.text if getattr(b, "type", "") == "text" else f"[{getattr(b, 'type', 'content')} omitted]"
                     for b in blocks)
    return Message.assistant(text) if sampling_message.role == "assistant" else Message.user(text)
