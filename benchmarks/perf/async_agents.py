"""Many agents in one event loop, and concurrent tool calls, each against a baseline measured in the same run.

    python -m benchmarks.async_agents [--agents 100] [--delay 0.2] [--calls 8] [--tool-seconds 0.2]

1. Agents: a small OpenAI-compatible server on 127.0.0.1 (stdlib, in a thread) answers every chat request
   after `--delay` seconds: a tool call first, then a final answer. `--agents` agents, each a two-turn episode
   through `OpenAICompatLLM`, run one after another with `Agent.run` (the baseline), then all at once with
   `asyncio.gather(agent.arun(...))`. An ideal overlap is agents x.
2. Tools: one model turn asks for `--calls` calls of a tool that sleeps `--tool-seconds`; the agent runs them
   with `parallel_tools=False` (the baseline), then concurrently (the default, `max_parallel_tools` = calls).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from qwen_agent import Agent, ScriptedLLM, tool
from qwen_agent.llm.openai_compat import OpenAICompatLLM

CALL = '<tool_call>\n{"name": "echo", "arguments": {"text": "hi"}}\n</tool_call>'


@tool
def echo(text: str) -> str:
    """Echo the text back."""
    return text


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True


def delayed_server(delay: float) -> _Server:
    """Replies to /v1/chat/completions after `delay` s: a call, or the final answer once a result came back."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            time.sleep(delay)
            done = "<tool_response>" in body["messages"][-1]["content"]
            message = {"role": "assistant", "content": "done" if done else CALL}
            data = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "bench",
                               "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = _Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def agents_figure(n: int, delay: float) -> tuple[float, float]:
    server = delayed_server(delay)
    llm = OpenAICompatLLM("bench", base_url=f"http://127.0.0.1:{server.server_address[1]}/v1", timeout=300)
    try:
        start = time.monotonic()
        answers = [Agent(llm=llm, tools=[echo]).run("go") for _ in range(n)]
        sequential = time.monotonic() - start

        async def together() -> list[str]:
            try:
                return await asyncio.gather(*(Agent(llm=llm, tools=[echo]).arun("go") for _ in range(n)))
            finally:
                await llm.aclose()

        start = time.monotonic()
        answers += asyncio.run(together())
        concurrent = time.monotonic() - start
    finally:
        server.shutdown()
        llm.close()
    if answers != ["done"] * (2 * n):
        raise SystemExit(f"wrong answers: {sorted(set(answers))}")
    return sequential, concurrent


def tools_figure(calls: int, seconds: float) -> tuple[float, float]:
    @tool
    def nap(i: int) -> int:
        """Sleep a while, then return i."""
        time.sleep(seconds)
        return i

    turn = "\n".join(f'<tool_call>\n{{"name": "nap", "arguments": {{"i": {i}}}}}\n</tool_call>' for i in range(calls))
    timings = []
    for parallel in (False, True):
        agent = Agent(llm=ScriptedLLM([turn, "done"]), tools=[nap], tool_format="hermes", parallel_tools=parallel,
                      max_parallel_tools=calls)
        start = time.monotonic()
        result = agent.run_result("go")
        timings.append(time.monotonic() - start)
        if [s.observation for s in result.steps if s.kind == "observation"] != [str(i) for i in range(calls)]:
            raise SystemExit("tool results out of order")
    return timings[0], timings[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--delay", type=float, default=0.2, help="seconds the server takes per reply")
    parser.add_argument("--calls", type=int, default=8)
    parser.add_argument("--tool-seconds", type=float, default=0.2)
    args = parser.parse_args()
    seq, conc = agents_figure(args.agents, args.delay)
    print(f"{args.agents} agents x 2 requests, {args.delay:g} s per reply: sequential run {seq:.2f} s, "
          f"concurrent arun {conc:.2f} s: {seq / conc:.1f}x (ideal {args.agents}x)")
    seq, conc = tools_figure(args.calls, args.tool_seconds)
    print(f"{args.calls} tool calls of {args.tool_seconds:g} s in one turn: parallel_tools=False {seq:.2f} s, "
          f"parallel {conc:.2f} s: {seq / conc:.1f}x (ideal {args.calls}x)")


if __name__ == "__main__":
    main()
