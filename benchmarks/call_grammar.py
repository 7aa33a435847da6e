"""What constrained tool calls (`qwen_agent.llm.local.call_grammar`) cost, on a real local Qwen:

    python -m benchmarks.call_grammar --model "$(qwen-agent fetch-model)" [--speed-rounds N]

1. Per-token cost: decode tokens/s of calls held from their first token (every token under the grammar, the
   worst case), a forced `<tool_call>` and a ```json fence, and the share of that time the grammar took, in the
   same run; the ratio is the figure to read.
2. Accuracy is `benchmarks.real_tool_use`'s: `--constrain-calls on` and `--constrain-calls off` score whole
   episodes with the grammar and without it.

The machine's load average is printed beside each figure.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.tool_use import real_tool_use as rtu
from qwen_agent import GenerationConfig
from qwen_agent.function_calling import build_request
from qwen_agent.llm.base import LLM
from qwen_agent.llm_options import add_llm_arguments, llm_from_args, resolve_backend
from qwen_agent.schema import Message, ToolSpec

SPEED_QUERY = "What's the weather in Paris, Tokyo and Cairo, in celsius, for the next three days?"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load {one:.1f} {five:.1f} {fifteen:.1f}"


def speed(llm: Any, rounds: int, shape: str = "tagged") -> dict[str, Any]:
    """Decode tokens/s of calls held from their first token (every token under the grammar, the worst case) and
    the share of that time the grammar took (its mask and its token bookkeeping, timed around `CallGuide`).
    `shape`: "tagged", a forced `<tool_call>`; "fenced", a turn that starts with ```json and `{"name": "get_weather"`, as
    the real models write their calls. The unconstrained 0.5B cannot be the baseline here: given a forced
    call's opener it ends its turn at once (0 tokens, measured), so the rate without the grammar is the same
    run's time less the grammar's."""
    from qwen_agent.formats import get_format
    from qwen_agent.llm.local.call_grammar import CallGuide
    from qwen_agent.schema import CallConstraint, ChatPrompt

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
    if shape == "tagged":
        prompt: Any = build_request(get_format("hermes"), tools, "required").render([Message.user(SPEED_QUERY)]).prompt
    else:
        head = '```json\n{\n  "name": "get_weather"'  # the grammar takes over once an offered name is written
        rendered = build_request(get_format("hermes"), tools, "auto").render([Message.user(SPEED_QUERY)]).prompt
        prompt = ChatPrompt([*rendered, Message.assistant(head)],
                            calls=CallConstraint(format="hermes", tools=tuple(tools), prefill=head))
    config = GenerationConfig(max_tokens=48)
    llm.constrain_calls = True
    llm.generate(prompt, config=config)  # warm: the grammar's tokenizer, the prefix cache
    mask, advance = CallGuide.mask, CallGuide.advance
    CallGuide.mask, CallGuide.advance = timed(mask), timed(advance)  # type: ignore[method-assign]
    tokens, seconds = 0, 0.0
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            tokens += llm.generate(prompt, config=config).usage.completion_tokens
            seconds += time.perf_counter() - start
    finally:
        CallGuide.mask, CallGuide.advance = mask, advance  # type: ignore[method-assign]
    on, off = tokens / seconds, tokens / (seconds - spent[0])
    return {"shape": shape, "tokens_per_s_on": on, "tokens_per_s_off": off, "ratio_on_off": on / off,
            "tokens": tokens, "grammar_ms_per_token": 1000 * spent[0] / tokens, "load": load()}


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.call_grammar", description=__doc__.split("\n\n")[0])
    add_llm_arguments(p)  # the CLI's model flags; the grammar needs --backend transformers (a local checkpoint)
    p.add_argument("--speed-rounds", type=int, default=4, help="alternating rounds of the speed test (default 4)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if resolve_backend(args) != "transformers":
        raise SystemExit("call_grammar constrains a local model's decoding: use --backend transformers --model PATH")
    llm: LLM = llm_from_args(args)
    with llm:
        for shape in ("tagged", "fenced"):
            cost = speed(llm, args.speed_rounds, shape)
            print(f"decode tokens/s, {shape} calls held from their first token: constrained "
                  f"{cost['tokens_per_s_on']:.2f}, without the grammar's time {cost['tokens_per_s_off']:.2f}, ratio "
                  f"{cost['ratio_on_off']:.3f}; grammar {cost['grammar_ms_per_token']:.2f} ms/token over "
                  f"{cost['tokens']} tokens ({cost['load']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
