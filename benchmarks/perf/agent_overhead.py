"""The agent loop's own cost per step (prompt building, parsing, bookkeeping), the LLM and the tool excluded.

    python -m benchmarks.agent_overhead [--steps 200] [--repeat 5]

A scripted LLM replays a tool call per turn; time spent inside the LLM call is measured and subtracted, so
the figure is the framework's overhead alone. Target: under 1 ms per step with 10 tools.
"""

from __future__ import annotations

import argparse
import statistics
import time

from qwen_agent import Agent, ScriptedLLM, Tool

TARGET_MS = 1.0


class Lookup(Tool):
    description = "Look up a value in a small table. Returns the value as text."
    parameters = {
        "type": "object",
        "properties": {"key": {"type": "string", "description": "the key"},
                       "limit": {"type": "integer", "description": "max results"}},
        "required": ["key"],
    }

    def __init__(self, name: str) -> None:
        self.name = name

    def run(self, key: str, limit: int = 1) -> str:
        return f"value of {key}"


class TimedLLM(ScriptedLLM):
    """ScriptedLLM that also accumulates the time spent inside its calls."""

    def __init__(self, responses: list[str]) -> None:
        super().__init__(responses)
        self.inside = 0.0

    def _generate(self, prompt, stop, config):  # noqa: ANN001, ANN202
        t = time.perf_counter()
        try:
            return super()._generate(prompt, stop, config)
        finally:
            self.inside += time.perf_counter() - t


def per_step_ms(n_tools: int, steps: int) -> float:
    tools = [Lookup(f"lookup_{i}") for i in range(n_tools)]
    call = 'Thought: look it up\nAction: lookup_0\nAction Input: {"key": "k", "limit": 2}'
    llm = TimedLLM([call] * (steps - 1) + ["Thought: done\nFinal Answer: ok"])
    agent = Agent(llm=llm, tools=tools, max_steps=steps, tool_format="react")
    t = time.perf_counter()
    result = agent.run_result("find k")
    total = time.perf_counter() - t
    assert result.finished, "benchmark script went wrong"
    return (total - llm.inside) / steps * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="model turns per episode")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print(f"| tools | overhead per step (ms, median of {args.repeat}) | vs 1 ms target |")
    print("|------:|------:|------:|")
    for n in (1, 10, 50):
        per_step_ms(n, 3)  # warm-up
        ms = statistics.median(per_step_ms(n, args.steps) for _ in range(args.repeat))
        print(f"| {n} | {ms:.3f} | {ms / TARGET_MS:.2f}x |")


if __name__ == "__main__":
    main()
