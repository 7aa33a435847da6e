"""Throughput of the local transformers backend against plain `model.generate` and the memory-bandwidth bound.

    python -m benchmarks.throughput                               # tiny model; on CUDA when there is a GPU
    python -m benchmarks.throughput --shape qwen-7b --device cuda # Qwen-7B's shape, bf16, random weights
    bash benchmarks/perf/gpu_throughput.sh                             # the GPU shapes in one run (see that script)
    python -m benchmarks.throughput --model PATH                  # a real checkpoint or .gguf, per precision

With `--model`, see `benchmarks/perf/throughput_real.py`: float32, bfloat16 and int8 interleaved on the real
checkpoint (decode, time to first token, peak memory, prefix reuse, tool-call agreement). Without it:

The model is built from a config with random weights (no download). Text goes through a Qwen-style tiktoken
tokenizer over a synthetic 151,643-token byte-level vocabulary (pass `--vocab path/to/qwen.tiktoken` to use the
real one); the figures measured here do not depend on which words the tokens spell.

Measured, each in the same run and interleaved with its baseline:
- decode tokens/s at batch 1 and batch 8: ours, plain `model.generate` (default settings), and the bound
  weight bytes / copy bandwidth (one read of every weight per decode step, bandwidth from a large tensor copy);
- time to first token for a 2k-token prompt;
- prefilled tokens over a 5-step ReAct episode with and without prefix reuse;
- the per-token cost of stop-string checking, end to end and in isolation.
Targets (GPU): >= 70% of the bound at batch 1, >= 3x plain generate; >= 80% fewer prefilled tokens; stop
checking < 3% of decode time.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from qwen_agent.llm.local.decoding import TextTail
from qwen_agent.llm.local.transformers import TransformersLLM
from qwen_agent.llm.tokenizer import SPECIAL_START_ID, QwenTokenizer
from qwen_agent.schema import GenerationConfig

SHAPES: dict[str, dict[str, Any]] = {
    # Qwen-7B (v1): 32 layers, hidden 4096, MLP 11008, 32 heads without GQA, vocabulary 151,936.
    "qwen-7b": dict(
        hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
        num_key_value_heads=32, vocab_size=151936, max_position_embeddings=8192, tie_word_embeddings=False,
    ),
    # Qwen2.5-7B: 28 layers, hidden 3584, MLP 18944, 28 query heads over 4 KV heads (GQA), vocabulary 152,064.
    "qwen2.5-7b": dict(
        hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
        num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, tie_word_embeddings=False,
    ),
    # Qwen2.5-0.5B (the shape of the real model the tests use): 24 layers, hidden 896, 14 heads over 2 KV heads.
    "qwen2.5-0.5b": dict(
        hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True,
    ),
    "tiny": dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, vocab_size=151851, max_position_embeddings=8192, tie_word_embeddings=True,
    ),
}  # fmt: skip
STOPS = ["Observation:", "\nObservation", "Final Answer:"]
WORDS = ["the", "model", "reads", "a", "question", "thinks", "about", "tools", "calls", "one", "and", "reads", "what", "it", "returns"]


# --- setup -------------------------------------------------------------------------------------------------
def synthetic_vocab(path: Path, size: int = SPECIAL_START_ID) -> Path:
    """A byte-level vocabulary of `size` ranks: all single bytes, all byte pairs, then 3-byte lowercase runs."""
    alphabet = b"abcdefghijklmnopqrstuvwxyz .,:\n0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_-()"
    tokens = [bytes([b]) for b in range(256)] + [bytes([a, b]) for a in range(256) for b in range(256)]
    tokens += [bytes(t) for t in itertools.product(alphabet, repeat=3)][: size - len(tokens)]
    path.write_bytes(b"".join(base64.b64encode(t) + b" %d\n" % i for i, t in enumerate(tokens)))
    return path


def build_model(shape: str, device: str, dtype: torch.dtype) -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**SHAPES[shape], bos_token_id=151643, eos_token_id=151645)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.config._name_or_path = f"random-{shape}"
    return model.eval()


def make_prompt(tokenizer: QwenTokenizer, n_tokens: int, salt: int = 0) -> str:
    """Text of exactly `n_tokens` tokens (words drawn deterministically; cut on a token boundary)."""
    words = [WORDS[(i * 7 + salt) % len(WORDS)] + str((i + salt) % 10) for i in range(n_tokens)]
    ids = tokenizer.encode(" ".join(words))[:n_tokens]
    return tokenizer.decode(ids)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], Any], device: str) -> tuple[float, Any]:
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t, out


def best_time(fn: Callable[[], Any], device: str, repeats: int) -> float:
    """The fastest of `repeats` runs: the figure least disturbed by other work on the machine."""
    return min(timed(fn, device)[0] for _ in range(repeats))


# --- measurements ------------------------------------------------------------------------------------------
def copy_bandwidth(device: str, dtype: torch.dtype) -> float:
    """Bytes per second of a large device-to-device tensor copy (read + write)."""
    n = (1 << 30 if device.startswith("cuda") else 1 << 28) // torch.finfo(dtype).bits * 8
    src = torch.empty(n, dtype=dtype, device=device).normal_()
    dst = torch.empty_like(src)
    dst.copy_(src)
    seconds = best_time(lambda: dst.copy_(src), device, 10)
    return 2 * src.numel() * src.element_size() / seconds


def weight_bytes(model: Any) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())


def decode_rate(run: Callable[[int], int], tokens: int, device: str, repeats: int) -> float:
    """Tokens per second of the decode phase: the extra tokens of a T-token run over a 1-token run, divided
    by the extra time (so prefill is not counted). Best of `repeats` for both."""
    run(2)  # warm-up
    t1 = best_time(lambda: run(1), device, repeats)
    runs = [timed(lambda: run(tokens), device) for _ in range(repeats)]
    seconds, produced = min(runs)
    batch = produced // tokens if produced >= tokens else 1
    return (produced - batch) / max(seconds - t1, 1e-9)


def ours_runner(llm: TransformersLLM, prompts: list[str], stop: list[str]) -> Callable[[int], int]:
    def run(n: int) -> int:
        config = GenerationConfig(max_tokens=n)
        if len(prompts) == 1:
            return llm.generate(prompts[0], stop=stop, config=config).usage.completion_tokens
        return sum(g.usage.completion_tokens for g in llm.generate_batch(prompts, stop=stop, config=config))

    return run


def plain_runner(model: Any, tokenizer: QwenTokenizer, prompts: list[str]) -> Callable[[int], int]:
    rows = [tokenizer.encode(p) for p in prompts]
    width = max(map(len, rows))
    device = model.get_input_embeddings().weight.device
    ids = torch.tensor([[tokenizer.eod_id] * (width - len(r)) + r for r in rows], device=device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=device)

    def run(n: int) -> int:
        out = model.generate(
            ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n, pad_token_id=tokenizer.eod_id
        )
        return (out.shape[1] - width) * len(rows)

    return run


def react_episode(
    llm: TransformersLLM, tokenizer: QwenTokenizer, question: int, steps: int = 5
) -> tuple[int, int, int]:
    """Drive the backend as a ReAct loop would: a fixed ~1k-token tools prompt, then question number
    `question`; each next prompt is the previous one plus the model's output and an observation.

    Returns the total prompt tokens, the total prefilled tokens, and the floor no cache can beat: the first
    prompt plus the tokens of each step's appended text (output and observation) encoded on their own.
    """
    tools_prompt = "Answer the following questions as best you can. You have access to the following tools:\n"
    prompt = f"{tools_prompt}{make_prompt(tokenizer, 1000, salt=1)}\nQuestion {question}: what is 21 * 2?\nThought:"
    total, prefilled, floor = 0, 0, len(tokenizer.encode(prompt))
    for i in range(steps):
        out = llm.generate(prompt, stop=["Observation:"], config=GenerationConfig(max_tokens=32))
        total += out.usage.prompt_tokens
        prefilled += out.usage.prefilled_tokens
        appended = f"{out.text}\nObservation: {make_prompt(tokenizer, 60, salt=10 + i + question)}\nThought:"
        floor += len(tokenizer.encode(appended)) if i < steps - 1 else 0
        prompt += appended
    return total, prefilled, floor


def stop_check_cost(tokenizer: QwenTokenizer, ids: list[int], repeats: int = 5) -> float:
    """Seconds per token that stop scanning adds to incremental detokenization (replayed, in isolation)."""

    def replay(stops: list[str]) -> float:
        tail = TextTail(tokenizer.decode, stops)
        t = time.perf_counter()
        for token in ids:
            tail.push(token)
        return time.perf_counter() - t

    with_stops = statistics.median(replay(STOPS) for _ in range(repeats))
    without = statistics.median(replay([]) for _ in range(repeats))
    return max(with_stops - without, 0.0) / len(ids)


# --- report ------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cuda = torch.cuda.is_available()
    parser.add_argument("--shape", choices=sorted(SHAPES), default="qwen-7b" if cuda else "tiny")
    parser.add_argument("--device", default="cuda" if cuda else "cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on CUDA, float32 on the CPU")
    parser.add_argument("--tokens", type=int, default=None, help="new tokens per decode measurement (default "
                        "128; 32 with --model)")
    parser.add_argument("--prompt-tokens", type=int, default=2048, help="prompt length for time to first token")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default 1: stable "
                        "figures on a shared machine, a tiny model gains nothing from more; with --model: all)")
    parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=cuda,
                        help="also measure compiled decoding (static cache + torch.compile; default: on CUDA)")
    parser.add_argument("--vocab", type=Path, default=None, help="a qwen.tiktoken file (default: synthetic)")
    parser.add_argument("--model", default=None, help="a real checkpoint folder or .gguf file: compare precisions")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "qwen_agent" / "converted"),
                        help="with --model x.gguf: where its safetensors conversions are kept")
    parser.add_argument("--verbose", action="store_true", help="with --model: print every tool-use task's calls")
    parser.add_argument("--tool-use-limit", type=int, default=None,
                        help="with --model: run only the first N real tool-use tasks per setting (default all)")
    parser.add_argument("--reuse-only", action="store_true",
                        help="with --model: only the prefix-reuse episodes, in bfloat16 (minutes, not an hour)")
    args = parser.parse_args()
    if args.model:
        from benchmarks.perf.throughput_real import run

        args.tokens = args.tokens or 32
        return run(args)
    args.tokens = args.tokens or 128
    if not args.device.startswith("cuda"):
        torch.set_num_threads(args.threads or 1)
    dtype = getattr(torch, args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32"))

    vocab = args.vocab or synthetic_vocab(Path(tempfile.mkdtemp()) / "synthetic.tiktoken")
    tokenizer = QwenTokenizer(vocab)
    model = build_model(args.shape, args.device, dtype)
    llm = TransformersLLM.from_model(model, tokenizer, reuse_prefix=False)
    reusing = TransformersLLM.from_model(model, tokenizer, reuse_prefix=True)
    compiled = None
    if args.compile:
        print("compiling the decode step ...", flush=True)
        # The static cache is read whole at every step (masked), so size it for the decode runs: 1k positions.
        compiled = TransformersLLM.from_model(
            model, tokenizer, reuse_prefix=False, compile_decode=True, max_cache_len=1024
        )
    run_benchmarks(args, model, tokenizer, llm, reusing, compiled)


def run_benchmarks(
    args: argparse.Namespace, model: Any, tokenizer: QwenTokenizer, llm: Any, reusing: Any, compiled: Any
) -> None:
    dev, reps, n = args.device, args.repeats, args.tokens
    bandwidth = copy_bandwidth(dev, model.dtype)
    wbytes = weight_bytes(model)
    bound = bandwidth / wbytes
    short = [make_prompt(tokenizer, 32, salt=s) for s in range(8)]
    print(f"model: random {args.shape}, {wbytes / 1e9:.3f} GB of weights in {model.dtype}, device {dev}")
    print(f"copy bandwidth: {bandwidth / 1e9:.1f} GB/s -> bound {bound:.1f} decode steps/s\n")
    print("| measure | ours | plain generate | ours / plain | ours / bound |")
    print("|---|---:|---:|---:|---:|")
    rows = [("batch 1", llm, 1), ("batch 8", llm, 8)]
    if compiled is not None:
        rows.insert(1, ("batch 1, compiled decode (1k static cache)" if compiled.compiled else "batch 1, compile FAILED", compiled, 1))
    plain_rates = {}
    for label, backend, batch in rows:
        ours = decode_rate(ours_runner(backend, short[:batch], []), n, dev, reps)
        if batch not in plain_rates:
            plain_rates[batch] = decode_rate(plain_runner(model, tokenizer, short[:batch]), n, dev, reps)
        plain, step_bound = plain_rates[batch], bound * batch
        print(f"| decode tokens/s, {label} | {ours:.1f} | {plain:.1f} | {ours / plain:.2f}x "
              f"| {ours / step_bound:.0%} of {step_bound:.1f} |")  # fmt: skip

    long_prompt = make_prompt(tokenizer, args.prompt_tokens, salt=3)
    one = GenerationConfig(max_tokens=1)
    llm.generate(long_prompt, config=one)  # warm-up
    ttft = best_time(lambda: llm.generate(long_prompt, config=one), dev, reps)
    plain_ttft = best_time(lambda: plain_runner(model, tokenizer, [long_prompt])(1), dev, reps)
    print(f"| time to first token, {args.prompt_tokens}-token prompt (ms) | {ttft * 1e3:.1f} "
          f"| {plain_ttft * 1e3:.1f} | {plain_ttft / ttft:.2f}x faster | |")  # fmt: skip

    questions = itertools.count()
    total, cold, floor = react_episode(reusing, tokenizer, next(questions))  # first episode: nothing cached
    warm = statistics.median(react_episode(reusing, tokenizer, next(questions))[1] for _ in range(reps))
    print(f"| 5-step ReAct episode, prefilled tokens: first | {cold} with reuse (floor {floor}) "
          f"| {total} without | {1 - cold / total:.1%} fewer | |")  # fmt: skip
    print(f"| 5-step ReAct episode, prefilled tokens: next question, same tools | {warm:.0f} with reuse "
          f"| {total} without | {1 - warm / total:.1%} fewer | |")  # fmt: skip
    t_reuse = best_time(lambda: react_episode(reusing, tokenizer, next(questions)), dev, reps)
    t_full = best_time(lambda: react_episode(llm, tokenizer, next(questions)), dev, reps)
    print(f"| 5-step ReAct episode: wall time (s) | {t_reuse:.2f} with reuse | {t_full:.2f} without "
          f"| {t_full / t_reuse:.2f}x faster | |")  # fmt: skip

    run_with, run_without = ours_runner(llm, short[:1], STOPS), ours_runner(llm, short[:1], [])
    with_stops, without = [], []
    for _ in range(3 * reps):  # interleaved, so drift in machine load hits both alike
        with_stops.append(timed(lambda: run_with(n), dev))
        without.append(timed(lambda: run_without(n), dev))
    (t_with, n_with), (t_without, n_without) = min(with_stops), min(without)
    a, b = n_with / t_with, n_without / t_without
    print(f"| generate {n} tokens, tokens/s: {len(STOPS)} stop strings vs none | {a:.1f} | {b:.1f} without "
          f"| {b / a - 1:+.1%} time per token | |")  # fmt: skip
    ids = tokenizer.encode(make_prompt(tokenizer, 4000, salt=5))
    per_token = stop_check_cost(tokenizer, ids)
    print(f"| stop scan alone, per token (us) | {per_token * 1e6:.2f} | | "
          f"{per_token * b:.3%} of a decode step | |")  # fmt: skip


if __name__ == "__main__":
    main()
