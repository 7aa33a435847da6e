"""The async side over real HTTP: `openai.AsyncOpenAI` against a scripted OpenAI-compatible server on 127.0.0.1,
hundreds of agents in one event loop, and cancellation that leaves no connection open."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from typing import Any

import psutil
import pytest

from qwen_agent import Agent, tool
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from tests.scripted_server import ScriptedOpenAIServer


def call(name: str, args: str) -> str:
    return f'<tool_call>\n{{"name": "{name}", "arguments": {args}}}\n</tool_call>'


@tool
def square(n: int) -> int:
    """Square a number."""
    return n * n


def test_agenerate_and_astream_use_the_async_client_and_match_the_sync_side() -> None:
    text = "Paris.\nObservation: junk"
    with ScriptedOpenAIServer([text] * 5, honor_stop=False) as server:
        llm = OpenAICompatLLM("scripted", base_url=server.base_url)
        sync = llm.generate("Capital?", stop=["Observation:"]).text

        async def both() -> tuple[str, str, str]:
            gen = await llm.agenerate("Capital of France?", stop=["Observation:"])
            chunks = [c.text async for c in llm.astream([_user("Capital?")], stop=["Observation:"])]
            return gen.text, "".join(chunks), type(llm.async_client()).__name__

        first = asyncio.run(both())
        second = asyncio.run(both())  # a new loop gets its own async client (a pool belongs to its loop)
        llm.close()
    assert first == second == ("Paris.\n", "Paris.\n", "AsyncOpenAI")
    assert sync == "Paris.\n"
    assert [r["_path"] for r in server.requests] == ["/v1/completions"] + [
        "/v1/completions", "/v1/chat/completions"] * 2


def _user(text: str) -> Any:
    from qwen_agent.schema import Message

    return Message.user(text)


def _reply(body: dict[str, Any]) -> str:
    """The model's words for any agent, from the request alone: call `square` on the number asked about,
    then answer with the tool's result."""
    last = body["messages"][-1]["content"]
    # the result, when there is one, is the turn before the question asked again (EpisodePolicy.ask_after_results)
    result = re.search(r"<tool_response>\s*(\d+)\s*</tool_response>", body["messages"][-2]["content"])
    if result:
        return f"The square is {result.group(1)}."
    n = re.search(r"square of (\d+)", last).group(1)  # type: ignore[union-attr]
    return call("square", f'{{"n": {n}}}')


def test_200_agents_overlap_in_one_event_loop() -> None:
    agents = 200
    # Every first request is held until all 200 are in flight at once (the server counts them): agents that
    # waited for each other would never get there, so a peak of 200 proves they overlap.
    with ScriptedOpenAIServer(respond=_reply, hold_until=agents, hold_timeout=60) as server:
        llm = OpenAICompatLLM("scripted", base_url=server.base_url, timeout=120)
        streamed: list[str] = []

        async def one(i: int) -> str:
            agent = Agent(llm=llm, tools=[square])
            if i % 2:  # half of them stream their answer text
                return (await agent.arun_result(f"What is the square of {i}?", on_text=streamed.append)).answer
            return await agent.arun(f"What is the square of {i}?")

        threads: set[str] = set()

        async def watch(work: asyncio.Future[Any]) -> None:
            while not work.done():
                threads.update(t.name for t in threading.enumerate())
                await asyncio.sleep(0.01)

        async def main() -> list[str]:
            try:
                work = asyncio.gather(*(one(i) for i in range(agents)))
                await watch(work)
                return await work
            finally:
                await llm.aclose()

        answers = asyncio.run(main())
    assert answers == [f"The square is {i * i}." for i in range(agents)]
    assert server.peak_in_flight == agents
    assert len(server.requests) == 2 * agents
    # every turn with tools on offer is streamed (a looping turn can be cut), watched or not
    assert sum(bool(r.get("stream")) for r in server.requests) == 2 * agents
    assert "".join(streamed).count("The square is") == agents // 2
    assert any("process_request_thread" in name for name in threads)  # the watcher saw the server's threads...
    assert not [name for name in threads if name.startswith("qwen-agent-llm")]  # ...but none for the model


def _open_connections(port: int) -> int:
    return sum(1 for c in psutil.Process().net_connections(kind="tcp")
               if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED)


@pytest.mark.parametrize("streaming", [False, True])
def test_cancelling_arun_closes_its_http_connection(streaming: bool) -> None:
    with ScriptedOpenAIServer(["never sent"], hold_until=2, hold_timeout=30) as server:
        port = int(server.base_url.rsplit(":", 1)[1].split("/")[0])
        llm = OpenAICompatLLM("scripted", base_url=server.base_url, max_retries=0)
        agent = Agent(llm=llm, tools=[square])

        async def main() -> tuple[int, int]:
            run = agent.arun_result("hi", on_text=(lambda _: None) if streaming else None)
            task = asyncio.create_task(run)
            deadline = time.monotonic() + 10
            while server.in_flight < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            during = _open_connections(port)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            for _ in range(100):
                if _open_connections(port) == 0:
                    break
                await asyncio.sleep(0.02)
            return during, _open_connections(port)

        during, after = asyncio.run(main())
        server.release()
    assert (during, after) == (1, 0)
