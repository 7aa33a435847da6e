"""The sync and async agent APIs inside a real Jupyter (ipykernel) cell, where an event loop is already running:
`agent.run(...)` must work there (peers fail with "asyncio.run() cannot be called from a running event loop"),
and so must a top-level `await agent.arun(...)`."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from tests.scripted_server import ScriptedOpenAIServer

jupyter_client = pytest.importorskip("jupyter_client")

REPO = Path(__file__).resolve().parents[1]

SETUP = """
import asyncio
from qwen_agent import Agent, tool
from qwen_agent.llm.openai_compat import OpenAICompatLLM

@tool
async def double(x: int) -> int:
    '''Double a number.'''
    await asyncio.sleep(0)
    return 2 * x

agent = Agent(llm=OpenAICompatLLM("scripted", base_url={url!r}), tools=[double])
print("loop running:", asyncio.get_running_loop().is_running())
"""


def _reply(body: dict[str, Any]) -> str:
    last = body["messages"][-1]["content"]
    # the result, when there is one, is the turn before the question asked again (EpisodePolicy.ask_after_results)
    result = re.search(r"<tool_response>\s*(\d+)\s*</tool_response>", body["messages"][-2]["content"])
    if result:
        return f"Result {result.group(1)}"
    x = re.search(r"double (\d+)", last).group(1)  # type: ignore[union-attr]
    return f'<tool_call>\n{{"name": "double", "arguments": {{"x": {x}}}}}\n</tool_call>'


def _cell(client: Any, code: str) -> str:
    out: list[str] = []

    def hook(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            out.append("\n".join(msg["content"]["traceback"]))

    reply = client.execute_interactive(code, timeout=120, output_hook=hook)
    assert reply["content"]["status"] == "ok", "".join(out)
    return "".join(out)


@pytest.mark.kernel
def test_sync_and_async_agent_calls_in_a_jupyter_cell() -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with ScriptedOpenAIServer(respond=_reply) as server:
        manager, client = jupyter_client.manager.start_new_kernel(kernel_name="python3", env=env, cwd=str(REPO))
        try:
            setup = _cell(client, SETUP.format(url=server.base_url))
            sync = _cell(client, 'print("sync:", agent.run("double 21"))')
            awaited = _cell(client, 'print("async:", await agent.arun("double 4"))')
        finally:
            client.stop_channels()
            manager.shutdown_kernel(now=True)
    assert setup.strip() == "loop running: True"
    assert sync.strip() == "sync: Result 42"
    assert awaited.strip() == "async: Result 8"
    assert len(server.requests) == 4
