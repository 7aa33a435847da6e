"""Throughput of the local backend on a real checkpoint, per precision (`python -m benchmarks.throughput --model PATH`).

PATH is a `.gguf` file or a checkpoint folder. Settings: float32 (the CPU default before bf16 detection),
bfloat16, and int8 weights (`quantize="int8"`: `Int8Linear`, bf16 activations). All settings are loaded in one process and measured interleaved
(repeat by repeat), so load from other work on a shared machine hits each alike; the figures to compare are
the ratios. Printed:
- decode tokens/s at batch 1 (ours and plain `model.generate`) after a short prompt, ours after a ~1k-token
  prompt (an agent's usual context: tool descriptions and a conversation), and time to first token of it;
- peak memory (max RSS) of a fresh process that loads the setting and generates a few tokens, and its
  anonymous memory at the end (RSS less the checkpoint's file pages, which the kernel can drop);
- prefilled tokens over a 5-step Hermes tool episode (the checkpoint's chat template with tools) with and
  without prefix reuse, and for the next question with the same tools;
- accuracy on the real tool-use benchmark (`benchmarks/tool_use/real_tool_use.py`, first turns, `auto` format): tasks
  right per setting, tasks float32 got right that the setting lost, and calls identical to float32's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

from qwen_agent.llm import get_llm
from qwen_agent.schema import GenerationConfig

TOOLS = [
    {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": {key: {"type": kind, "description": about} for key, kind, about in params},
        "required": [p[0] for p in params]}}}
    for name, desc, params in [
        ("get_weather", "Current weather for a city.", [("city", "string", "city name, e.g. Paris")]),
        ("convert_currency", "Convert an amount between currencies.", [
            ("amount", "number", "the amount"), ("from_currency", "string", "ISO code, e.g. USD"),
            ("to_currency", "string", "ISO code, e.g. EUR")]),
        ("search_flights", "Find flights between two cities on a date.", [
            ("origin", "string", "departure city"), ("destination", "string", "arrival city"),
            ("date", "string", "YYYY-MM-DD")]),
        ("run_python", "Run Python code and return what it prints.", [("code", "string", "the code")]),
    ]
]  # fmt: skip
EPISODE_QUESTIONS = ["What's the weather in Paris right now?", "Is it raining in Tokyo?"]
PEAK_SCRIPT = """
import resource, sys
from qwen_agent.llm import get_llm
from qwen_agent.schema import GenerationConfig
llm = get_llm("transformers", model=sys.argv[1], dtype=sys.argv[2], quantize=sys.argv[3] or None,
              gguf_cache_dir=sys.argv[4], config=GenerationConfig(max_tokens=8))
llm.generate("def fib(n):")
anon = next(line.split()[1] for line in open("/proc/self/status") if line.startswith("RssAnon:"))
print(anon, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


SETTINGS = [("float32", "float32", None), ("bfloat16", "bfloat16", None), ("int8", "bfloat16", "int8")]


def load_settings(model: str, cache: Path) -> dict[str, Any]:
    """label -> backend (prefix reuse off, so every timed call prefills its whole prompt)."""
    def load(dtype: str, quantize: str | None = None) -> Any:
        return get_llm("transformers", model=model, dtype=dtype, quantize=quantize, gguf_cache_dir=cache,
                       reuse_prefix=False)

    return {label: load(dtype, quant) for label, dtype, quant in SETTINGS}


def memory_mb(model: str, dtype: str, quantize: str, cache: Path) -> tuple[float, float]:
    """(peak RSS, anonymous RSS at the end) of a fresh process that loads the setting and generates. RSS
    counts the pages of the memory-mapped checkpoint it has read, which the kernel can drop under pressure;
    anonymous memory it cannot (Linux only)."""
    out = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, model, dtype, quantize, str(cache)],
                         capture_output=True, text=True, check=True).stdout
    anon_kb, peak_kb = out.split()[-2:]
    return int(peak_kb) / 1024, int(anon_kb) / 1024


def chat_text(llm: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = TOOLS) -> str:
    return llm.codec.tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)


def long_prompt(llm: Any, tokens: int = 1000) -> str:
    """A chat prompt with the tools, padded with a long system note to about `tokens` tokens."""
    note = " ".join(f"Rule {i}: answer briefly and call a tool when the question needs live data." for i in range(200))
    ids = llm.codec.tokenizer(note)["input_ids"]
    head = chat_text(llm, [{"role": "user", "content": "hi"}])
    pad = llm.codec.tokenizer.decode(ids[: max(tokens - len(llm.codec.encode(head)), 0)])
    return chat_text(llm, [{"role": "system", "content": pad}, {"role": "user", "content": EPISODE_QUESTIONS[0]}])


def _runs(llm: Any, prompt: str, ttft_prompt: str, new: int) -> dict[str, Any]:
    ids = torch.tensor([llm.codec.encode(prompt)])
    long_ids = torch.tensor([llm.codec.encode(ttft_prompt)])
    return {
        "ours1": lambda: llm.generate(prompt, config=GenerationConfig(max_tokens=1)),
        "oursN": lambda: llm.generate(prompt, config=GenerationConfig(max_tokens=new)),
        "plain1": lambda: llm.model.generate(ids, max_new_tokens=1, do_sample=False),
        "plainN": lambda: llm.model.generate(ids, max_new_tokens=new, min_new_tokens=new, do_sample=False),
        "ttft": lambda: llm.generate(ttft_prompt, config=GenerationConfig(max_tokens=1)),
        "longN": lambda: llm.generate(ttft_prompt, config=GenerationConfig(max_tokens=new)),
        "plain_ttft": lambda: llm.model.generate(long_ids, max_new_tokens=1, do_sample=False),
    }


def timings(settings: dict[str, Any], prompt: str, ttft_prompt: str, new: int, repeats: int) -> dict[str, dict]:
    """Best-of-`repeats` seconds, interleaved across settings: ours and plain generate, 1 and `new` tokens,
    and the long prompt's first token."""
    best: dict[str, dict[str, float]] = {k: {} for k in settings}
    runs = {label: _runs(llm, prompt, ttft_prompt, new) for label, llm in settings.items()}
    for _ in range(repeats + 1):  # the first round warms up
        for label in settings:
            for key, run in runs[label].items():
                t = time.perf_counter()
                out = run()
                seconds = time.perf_counter() - t
                best[label][key] = min(best[label].get(key, float("inf")), seconds)
                if key in ("oursN", "longN"):
                    best[label][f"{key}_tokens"] = out.usage.completion_tokens
    return best


def hermes_episode(llm: Any, question: str, steps: int = 5) -> tuple[int, int, int]:
    """A 5-step tool episode through the chat template: each step appends the model's reply and a tool
    result, and the whole conversation is rendered again (as an agent does). Returns (prompt tokens summed,
    prefilled tokens summed, the floor): the floor no cache can beat is the first prompt plus, at each later
    step, the tokens of the text the template put after the model's reply (the end of its turn, the tool
    result, the next turn's header), encoded on their own."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": question}]
    total = prefilled = floor = 0
    seen = ""  # the previous prompt and the reply to it: what a cache can hold
    for i in range(steps):
        text = chat_text(llm, messages)
        floor += len(llm.codec.encode(text[len(os.path.commonprefix([seen, text])):]))
        out = llm.generate(text, config=GenerationConfig(max_tokens=40))
        total += out.usage.prompt_tokens
        prefilled += out.usage.prefilled_tokens
        seen = text + out.text
        messages += [{"role": "assistant", "content": out.text},
                     {"role": "tool", "content": json.dumps({"step": i, "result": f"{20 + i} degrees, clear"})}]
    return total, prefilled, floor


def print_reuse(settings: dict[str, Any]) -> None:
    """Prefilled tokens of the 5-step Hermes episode with prefix reuse, per setting, against the prompt tokens
    (what is prefilled without reuse) and the floor."""
    for label, llm in settings.items():
        llm.reuse_prefix = True
        total, cold, floor = hermes_episode(llm, EPISODE_QUESTIONS[0])
        total_next, warm, _ = hermes_episode(llm, EPISODE_QUESTIONS[1])
        llm.reuse_prefix = False
        print(f"5-step Hermes episode, {label}: prefilled with reuse / prompt tokens (= prefilled without): first "
              f"question {cold}/{total} ({1 - cold / total:.1%} fewer; floor {floor}, {1 - floor / total:.1%} "
              f"fewer), next question with the same tools {warm}/{total_next} ({1 - warm / total_next:.1%} fewer)")
    print()


def tool_use(llm: Any, limit: int | None) -> list[dict[str, Any]]:
    """The real tool-use benchmark's tasks (first turns, the default `auto` format), with prefix reuse on as
    the backend's default has it: one record per task."""
    from benchmarks import _harness as h
    from benchmarks.tool_use import real_tool_use as rtu

    config = GenerationConfig(max_tokens=256)
    llm.reuse_prefix = True
    try:
        return [rtu.run_task(llm, "auto", task, config, rtu._NoLock(), max_steps=1)
                for task in rtu.mixed(h.read_jsonl(rtu.DATA))[:limit]]
    finally:
        llm.reuse_prefix = False


def print_tool_use(settings: dict[str, Any], limit: int | None, verbose: bool) -> None:
    """Each setting's tool-use score, printed as soon as it is known (float32's first: the reference)."""
    reference: list[dict[str, Any]] = []
    for label, llm in settings.items():
        rows = tool_use(llm, limit)
        reference = reference or rows
        right = sum(r["right"] for r in rows)
        lost = sum(ref["right"] and not r["right"] for r, ref in zip(rows, reference, strict=True))
        same = sum(r["calls"] == ref["calls"] for r, ref in zip(rows, reference, strict=True))
        print(f"real tool use (first turns, auto format), {label}: {right}/{len(rows)} right; "
              f"{lost} lost vs float32; same calls as float32 on {same}/{len(rows)}", flush=True)
        if verbose:
            for r in rows:
                print(f"    {r['task']}: {'right' if r['right'] else 'WRONG'} {r['calls']}", flush=True)


def run(args: Any) -> None:
    model = str(Path(args.model).expanduser())
    cache = Path(args.cache_dir).expanduser()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.reuse_only:
        print_reuse({"bfloat16": get_llm("transformers", model=model, dtype="bfloat16", gguf_cache_dir=cache)})
        return
    print(f"model: {model}; {torch.get_num_threads()} threads; CPU bf16: "
          f"{__import__('qwen_agent.llm.local.local_setup', fromlist=['x']).probe_machine().cpu_bf16}")
    memory = {label: memory_mb(model, dtype, quant or "", cache) for label, dtype, quant in SETTINGS}
    settings = load_settings(model, cache)
    first = settings["float32"]
    prompt = chat_text(first, [{"role": "user", "content": "Write a long Python module with ten small functions."}])
    ttft_prompt = long_prompt(first)
    print(f"decode: {args.tokens} new tokens after a {len(first.codec.encode(prompt))}-token prompt; time to "
          f"first token: {len(first.codec.encode(ttft_prompt))}-token prompt; best of {args.repeats}, interleaved\n")
    best = timings(settings, prompt, ttft_prompt, args.tokens, args.repeats)
    print("| setting | decode tok/s, ours | plain generate | ours vs float32 | decode after the long prompt "
          "| vs float32 | TTFT ours (s) | TTFT plain (s) | peak RSS (MB) | anonymous (MB) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = base_long = None
    for label, b in best.items():
        ours = (b["oursN_tokens"] - 1) / max(b["oursN"] - b["ours1"], 1e-9)
        long = (b["longN_tokens"] - 1) / max(b["longN"] - b["ttft"], 1e-9)
        plain = (args.tokens - 1) / max(b["plainN"] - b["plain1"], 1e-9)
        base, base_long = base or ours, base_long or long
        print(f"| {label} | {ours:.1f} | {plain:.1f} | {ours / base:.2f}x | {long:.1f} | {long / base_long:.2f}x "
              f"| {b['ttft']:.2f} | {b['plain_ttft']:.2f} | {memory[label][0]:.0f} | {memory[label][1]:.0f} |")
    print()
    print_reuse({label: settings[label] for label in ("bfloat16", "int8")})
    print_tool_use(settings, args.tool_use_limit, args.verbose)
