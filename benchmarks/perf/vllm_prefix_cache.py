"""How much of each turn's prompt vLLM serves from its prefix cache over an agent episode, read from vLLM's own
`/metrics` (`vllm:prefix_cache_queries` and `vllm:prefix_cache_hits`, in tokens).

    python -m benchmarks.perf.vllm_prefix_cache                       # starts vLLM (benchmarks/perf/vllm_engine.py)
    python -m benchmarks.perf.vllm_prefix_cache --base-url http://127.0.0.1:8000/v1 --served-model NAME

For each tool_format ("auto": Hermes rendered by us; "server": vLLM renders the tools and parses the calls),
one episode of `--steps` model turns: a conversation of questions, each answered with the add tool, every
question sent with the whole conversation so far (as a chat UI or a multi-turn agent does), greedy. Prints per
turn the prompt tokens (vLLM's usage) and the cache hits of that request, then the episode's hit rate: hit
tokens / queried tokens. vLLM caches whole blocks (128 tokens on the CPU build), so a turn's last partial block
is always a miss. The first format's first request also pays for the tool descriptions; the second reuses them
when the rendering is the same, so each format is also run on a cold cache (`--reset` via /reset_prefix_cache
where the server allows it; otherwise the order is said).
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.request
from pathlib import Path

from benchmarks.perf.vllm_engine import SERVED_MODEL, VLLMServer, prefix_cache_counters, small_qwen_folder
from qwen_agent import Agent
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from qwen_agent.schema import GenerationConfig, Message

QUESTIONS = [f"What is {a} + {b}? Use the add tool." for a, b in
             [(1234, 4321), (20, 22), (305, 17), (999, 1), (4096, 4096), (7, 35), (120, 80), (61, 39)]]


def add(a: int, b: int) -> int:
    """Add two integers and return their sum.

    Args:
        a: the first integer.
        b: the second integer.
    """
    return a + b


def _metrics(root: str) -> tuple[float, float]:
    with urllib.request.urlopen(root + "/metrics", timeout=10) as r:
        return prefix_cache_counters(r.read().decode())


def _reset(root: str) -> bool:
    """Empty vLLM's prefix cache (POST /reset_prefix_cache, offered in its dev mode); False when refused."""
    try:
        with urllib.request.urlopen(urllib.request.Request(root + "/reset_prefix_cache", method="POST"), timeout=10):
            return True
    except OSError:
        return False


def episode(base_url: str, model: str, tool_format: str, steps: int) -> list[tuple[int, float, float]]:
    """(prompt tokens, queried, hit) of each question of one episode of at least `steps` model turns."""
    root = base_url.removesuffix("/v1")
    llm = OpenAICompatLLM(model, base_url=base_url, timeout=600)
    rows: list[tuple[int, float, float]] = []
    history: list[Message] = []
    done = 0
    try:
        with Agent(llm, [add], tool_format=tool_format, config=GenerationConfig(temperature=0.0, max_tokens=96),
                   max_steps=3) as agent:
            for question in QUESTIONS:
                before = _metrics(root)
                result = agent.run_result(question, history=history)
                after = _metrics(root)
                turns = sum(m.role == "assistant" for m in result.messages[len(history):])
                history = result.messages
                rows.append((result.usage.prompt_tokens, after[0] - before[0], after[1] - before[1]))
                done += turns
                print(f"  {tool_format}: {question!r}: {turns} model turn(s), {result.usage.prompt_tokens} prompt "
                      f"tokens, {after[1] - before[1]:.0f} of {after[0] - before[0]:.0f} queried from cache",
                      flush=True)
                if done >= steps:
                    break
    finally:
        llm.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base-url", help="a running vLLM (started with --enable-prefix-caching)")
    ap.add_argument("--served-model", default=SERVED_MODEL)
    ap.add_argument("--steps", type=int, default=5, help="model turns per episode (whole questions)")
    ap.add_argument("--formats", default="auto,server")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    server = None
    if args.base_url is None:
        server = VLLMServer(small_qwen_folder(), Path(os.environ.get("TMPDIR", "/tmp")) / "vllm-prefix.log",
                            extra_args=("--enable-prompt-tokens-details",))
        server.start()
        print(f"vLLM ready after {server.startup_seconds:.0f} s", flush=True)
    base_url = args.base_url or server.base_url
    out = {}
    try:
        for fmt in args.formats.split(","):
            cold = _reset(base_url.removesuffix("/v1"))
            print(f"{fmt}: {'cold cache (reset)' if cold else 'cache as the earlier formats left it'}", flush=True)
            rows = episode(base_url, args.served_model, fmt, args.steps)
            queried, hit = sum(r[1] for r in rows), sum(r[2] for r in rows)
            rate = hit / queried if queried else 0.0
            out[fmt] = {"prompt_tokens": sum(r[0] for r in rows), "queried": queried, "hit": hit, "hit_rate": rate,
                        "cold": cold, "load": os.getloadavg()[0]}
            print(f"{fmt}: {hit:.0f} of {queried:.0f} prompt tokens from vLLM's prefix cache = {rate:.1%} "
                  f"(load avg {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        if server is not None:
            server.close()
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
