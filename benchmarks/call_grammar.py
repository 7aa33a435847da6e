"""What constrained tool calls (`qwen_agent.llm.call_grammar`) cost and change, on a real local Qwen:

    python -m benchmarks.call_grammar --model "$(qwen-agent fetch-model)" [--limit N] [--max-steps 1]

1. Per-token cost: decode tokens/s of forced Hermes calls (every token under the grammar, the worst case), and
   the share of that time the grammar took, in the same run; the ratio is the figure to read.
2. Accuracy: the tasks of `benchmarks.real_tool_use`, each run with the constraint on and off in turn (same
   load for both), scored as that benchmark scores them (first turn right; right over the episode), plus how
   many first turns held a call the tool's schema refuses.

The machine's load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from benchmarks import _harness as h
from benchmarks.tool_use import real_tool_use as rtu
from qwen_agent import GenerationConfig
from qwen_agent.formats import FORMATS
from qwen_agent.function_calling import build_request
from qwen_agent.llm.base import LLM
from qwen_agent.llm_options import add_llm_arguments, llm_from_args, resolve_backend
from qwen_agent.schema import Message, ToolSpec

SPEED_QUERY = "What's the weather in Paris, Tokyo and Cairo, in celsius, for the next three days?"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def speed(llm: Any, rounds: int) -> dict[str, Any]:
    """Decode tokens/s of forced calls (every token under the grammar) and the share of that time the grammar
    took (its mask and its token bookkeeping, timed around `CallGuide`). The unconstrained 0.5B cannot be the
    baseline here: given a forced call's opener it ends its turn at once (0 tokens, measured), so the rate
    without the grammar is the same run's time less the grammar's."""
    from qwen_agent.formats import get_format
    from qwen_agent.llm.local.call_grammar import CallGuide

    spent = [0.0]

    def timed(method: Any) -> Any:
        def run(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args)
            finally:
                spent[0] += time.perf_counter() - start
        return run

    tools = [ToolSpec(name=t.name, description=t.description, parameters=t.parameters) for t in rtu.TOOLS]
    prompt = build_request(get_format("hermes"), tools, "required").render([Message.user(SPEED_QUERY)])
    config = GenerationConfig(max_tokens=48)
    llm.generate(prompt.prompt, config=config)  # warm: the grammar's tokenizer, the prefix cache
    mask, advance = CallGuide.mask, CallGuide.advance
    CallGuide.mask, CallGuide.advance = timed(mask), timed(advance)  # type: ignore[method-assign]
    tokens, seconds = 0, 0.0
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            tokens += llm.generate(prompt.prompt, config=config).usage.completion_tokens
            seconds += time.perf_counter() - start
    finally:
        CallGuide.mask, CallGuide.advance = mask, advance  # type: ignore[method-assign]
    on, off = tokens / seconds, tokens / (seconds - spent[0])
    return {"tokens_per_s_on": on, "tokens_per_s_off": off, "ratio_on_off": on / off, "tokens": tokens,
            "grammar_ms_per_token": 1000 * spent[0] / tokens, "load": load()}


def invalid_calls(calls: Sequence[Sequence[Any]]) -> int:
    """Calls of the first turn that name no offered tool or whose arguments the tool's schema refuses."""
    import jsonschema

    schemas = {t.name: t.parameters for t in rtu.TOOLS}
    bad = 0
    for name, args in calls:
        if name not in schemas or not isinstance(args, dict):
            bad += 1
            continue
        try:
            jsonschema.validate(args, schemas[name])
        except jsonschema.ValidationError:
            bad += 1
    return bad


def accuracy(llm: Any, formats: Sequence[str], limit: int | None, max_steps: int) -> list[dict[str, Any]]:
    tasks = rtu.mixed(h.read_jsonl(rtu.DATA))[:limit]
    config = GenerationConfig(max_tokens=256)
    rows = []
    for fmt in formats:
        counts = {on: {"right": 0, "episode": 0, "invalid": 0, "seconds": 0.0} for on in (True, False)}
        for task in tasks:
            for on in (True, False):
                llm.constrain_calls = on
                record = rtu.run_task(llm, fmt, task, config, rtu._NoLock(), max_steps)
                c = counts[on]
                c["right"] += record["right"]
                c["episode"] += record["right_in_episode"]
                c["invalid"] += invalid_calls(record["calls"])
                c["seconds"] += record["seconds"]
                print(json.dumps({"format": fmt, "task": task["id"], "constrained": on, "right": record["right"],
                                  "calls": record["calls"]}, ensure_ascii=False), flush=True)
        for on in (True, False):
            c = counts[on]
            rows.append({"format": fmt, "constrained": on, "tasks": len(tasks), **c, "load": load()})
    llm.constrain_calls = True
    return rows


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.call_grammar", description=__doc__.split("\n\n")[0])
    add_llm_arguments(p)  # the CLI's model flags; the grammar needs --backend transformers (a local checkpoint)
    p.add_argument("--formats", default="auto,react", help=f"comma-separated, from {list(FORMATS)} (default auto,react)")
    p.add_argument("--limit", type=int, help="run only the first N tasks")
    p.add_argument("--max-steps", type=int, default=3, help="model turns per episode (1: first turns only)")
    p.add_argument("--speed-rounds", type=int, default=4, help="alternating rounds of the speed test (default 4)")
    p.add_argument("--skip-accuracy", action="store_true", help="only the per-token cost")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if resolve_backend(args) != "transformers":
        raise SystemExit("call_grammar constrains a local model's decoding: use --backend transformers --model PATH")
    llm: LLM = llm_from_args(args)
    with llm:
        cost = speed(llm, args.speed_rounds)
        print(f"decode tokens/s, forced Hermes calls: constrained {cost['tokens_per_s_on']:.2f}, without the "
              f"grammar's time {cost['tokens_per_s_off']:.2f}, ratio {cost['ratio_on_off']:.3f}; grammar "
              f"{cost['grammar_ms_per_token']:.2f} ms/token over {cost['tokens']} tokens ({cost['load']})", flush=True)
        if args.skip_accuracy:
            return 0
        rows = accuracy(llm, [f.strip() for f in args.formats.split(",") if f.strip()], args.limit, args.max_steps)
    print(h.markdown_table(
        ["format", "constrained", "tasks", "right first turn", "right over the episode", "invalid calls (1st turn)",
         "seconds", "load after"],
        [[r["format"], r["constrained"], r["tasks"], r["right"], r["episode"], r["invalid"], round(r["seconds"], 1),
          r["load"]] for r in rows]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
