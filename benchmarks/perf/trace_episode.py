"""Where one episode's seconds went, read from its OpenTelemetry trace.

    python -m benchmarks.perf.trace_episode --model "$(qwen-agent fetch-model)" [--query "..."] [--tool code_interpreter]

Runs one streamed episode with an SDK tracer provider that keeps the spans in memory, then prints each span
(the episode, every model turn, every tool call) with its seconds, tokens and time to first token, and the
share of the episode spent in the model and in tools.
"""

from __future__ import annotations

import argparse

from qwen_agent import Agent
from qwen_agent.llm_options import add_llm_arguments, llm_from_args
from qwen_agent.schema import GenerationConfig
from qwen_agent.tools import load_builtin


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_llm_arguments(parser)  # e.g. --model "$(qwen-agent fetch-model)", loaded as the CLI loads it
    parser.add_argument("--query", default="What is 2**100 + 12345 * 6789? Compute it with the code interpreter.")
    parser.add_argument("--tool", default="code_interpreter")
    parser.add_argument("--max-tokens", type=int, default=256, help="per model turn")
    parser.add_argument("--max-steps", type=int, default=4)
    args = parser.parse_args()

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    trace.set_tracer_provider(provider)

    llm = llm_from_args(args)
    config = GenerationConfig(max_tokens=args.max_tokens)
    with Agent(llm, [load_builtin(args.tool)], config=config, max_steps=args.max_steps) as agent:
        result = agent.run_result(args.query, on_text=lambda text: None)
    print(f"answer: {result.answer!r}\n")
    spans = sorted(memory.get_finished_spans(), key=lambda s: s.start_time)
    root = next(s for s in spans if s.parent is None)
    total = (root.end_time - root.start_time) / 1e9
    print("| span | start (s) | seconds | prompt tokens (cached) | generated | first token (s) |")
    print("|---|---:|---:|---:|---:|---:|")
    share = {"chat": 0.0, "execute_tool": 0.0}
    for s in spans:
        a = s.attributes
        seconds = (s.end_time - s.start_time) / 1e9
        op = a.get("gen_ai.operation.name", "")
        share[op] = share.get(op, 0.0) + seconds
        tokens = (f"{a['gen_ai.usage.input_tokens']} ({a.get('gen_ai.usage.cache_read.input_tokens', 0)})"
                  if "gen_ai.usage.input_tokens" in a and op == "chat" else "")
        out = a.get("gen_ai.usage.output_tokens", "") if op == "chat" else ""
        ttft = a.get("gen_ai.response.time_to_first_chunk")
        error = f" ({a['error.type']})" if "error.type" in a else ""
        print(f"| {s.name}{error} | {(s.start_time - root.start_time) / 1e9:.2f} | {seconds:.2f} | {tokens} | {out} | "
              f"{'' if ttft is None else f'{ttft:.2f}'} |")
    model, tools = share["chat"], share["execute_tool"]
    print(f"\nepisode {total:.2f} s: model {model:.2f} s ({model / total:.0%}), tools {tools:.2f} s "
          f"({tools / total:.0%}), the loop and the rest {total - model - tools:.2f} s")


if __name__ == "__main__":
    main()
