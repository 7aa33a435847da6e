"""The agent loop's own cost per step (prompt building, parsing, bookkeeping), the LLM and the tool excluded.

    python -m benchmarks.agent_overhead [--steps 200] [--repeat 5] [--tracing]

A scripted LLM replays a tool call per turn; time spent inside the LLM call is measured and subtracted, so
the figure is the framework's overhead alone. Target: under 1 ms per step with 10 tools.

`--tracing` measures instead the same episode (10 tools) three ways, each in its own process (a provider cannot
be unset), the modes alternating over `--rounds`: OpenTelemetry not imported (what a user without it gets),
imported with no provider set, and an SDK provider recording every span (a model-turn span and a tool span per
step) into an exporter that drops them, so the figure is the tracing's own cost without network I/O. It counts CPU time (all threads of the process),
which a loaded machine disturbs far less than wall time.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

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

    def __init__(self, responses: list[str], clock: Callable[[], float] = time.perf_counter) -> None:
        super().__init__(responses)
        self.inside = 0.0
        self.clock = clock

    def _generate(self, prompt, stop, config):  # noqa: ANN001, ANN202
        t = self.clock()
        try:
            return super()._generate(prompt, stop, config)
        finally:
            self.inside += self.clock() - t


def per_step_ms(n_tools: int, steps: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """Milliseconds per step outside the LLM call, on `clock` (`time.process_time`: CPU seconds of every thread
    of this process, which a loaded machine disturbs far less than wall time)."""
    tools = [Lookup(f"lookup_{i}") for i in range(n_tools)]
    call = 'Thought: look it up\nAction: lookup_0\nAction Input: {"key": "k", "limit": 2}'
    llm = TimedLLM([call] * (steps - 1) + ["Thought: done\nFinal Answer: ok"], clock)
    agent = Agent(llm=llm, tools=tools, max_steps=steps, tool_format="react")
    t = clock()
    result = agent.run_result("find k")
    total = clock() - t
    assert result.finished, "benchmark script went wrong"
    return (total - llm.inside) / steps * 1000


MODES = {"none": "opentelemetry not imported", "api": "imported, no provider",
         "sdk": "SDK provider, every span recorded"}


def traced_ms(mode: str, steps: int, repeat: int) -> float:
    """Per-step overhead (10 tools) in this process with tracing set up as `mode` says."""
    import sys

    if mode != "none":
        from opentelemetry import trace
    if mode == "sdk":
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

        class Drop(SpanExporter):
            def export(self, spans):  # noqa: ANN001, ANN202
                return SpanExportResult.SUCCESS

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(Drop()))
        trace.set_tracer_provider(provider)
    assert (mode == "none") == ("opentelemetry" not in sys.modules)
    per_step_ms(10, steps)  # warm-up
    return statistics.median(per_step_ms(10, steps, time.process_time) for _ in range(repeat))


def tracing_table(steps: int, repeat: int, rounds: int = 3) -> None:
    """Each mode in its own process (a provider cannot be unset), the modes alternating round by round so a
    change in the machine's load falls on all of them; the median over rounds is shown."""
    import subprocess
    import sys

    got: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(rounds):
        for mode in MODES:
            out = subprocess.run([sys.executable, "-m", "benchmarks.perf.agent_overhead", "--tracing-mode", mode,
                                  "--steps", str(steps), "--repeat", str(repeat)],
                                 capture_output=True, text=True, check=True).stdout
            got[mode].append(float(out))
    base = statistics.median(got["none"])
    print(f"| tracing (10 tools, {steps} steps) | CPU ms per step (median of {rounds} processes x "
          f"{repeat} episodes) | vs not imported |")
    print("|------|------:|------:|")
    for mode, name in MODES.items():
        ms = statistics.median(got[mode])
        print(f"| {name} | {ms:.3f} | {ms / base:.2f}x ({ms - base:+.3f} ms) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20, help="model turns per episode")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--tracing", action="store_true", help="measure tracing off and on instead (10 tools)")
    parser.add_argument("--rounds", type=int, default=3, help="--tracing: processes per mode, alternating")
    parser.add_argument("--tracing-mode", choices=sorted(MODES), help=argparse.SUPPRESS)  # one process's share
    args = parser.parse_args()
    if args.tracing_mode:
        print(traced_ms(args.tracing_mode, args.steps, args.repeat))
        return
    if args.tracing:
        tracing_table(args.steps, args.repeat, args.rounds)
        return
    print(f"| tools | overhead per step (ms, median of {args.repeat}) | vs 1 ms target |")
    print("|------:|------:|------:|")
    for n in (1, 10, 50):
        per_step_ms(n, 3)  # warm-up
        ms = statistics.median(per_step_ms(n, args.steps) for _ in range(args.repeat))
        print(f"| {n} | {ms:.3f} | {ms / TARGET_MS:.2f}x |")


if __name__ == "__main__":
    main()
