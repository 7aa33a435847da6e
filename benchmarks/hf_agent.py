"""HuggingFace Agent benchmark: `python -m benchmarks.hf_agent --mode run|chat --tasks PATH ...`.

Reproduces transformers' `evaluate_agent` (run mode, 27 task phrasings) and `evaluate_chat_agent` (chat mode,
47 conversation steps) for a Qwen model behind an OpenAI-compatible server or loaded locally:

    python -m benchmarks.hf_agent --mode run --tasks hf_agent_tasks.json \\
        --base-url http://127.0.0.1:8000/v1 --model Qwen-7B-Chat
    python -m benchmarks.hf_agent --mode chat --tasks hf_agent_tasks.json --model ./Qwen-7B-Chat --backend transformers
    python -m benchmarks.hf_agent --mode run --tasks hf_agent_tasks.json --replay hf_agent_run.jsonl

Each item's completion and scores are appended (and flushed) to a jsonl file as soon as it is done; a rerun
skips the items already there, so an interrupted run resumes. `--replay FILE` re-scores recorded completions
without a model. The scores are printed as a markdown table and written as JSON. See docs/hf-agent.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.hf_agent_data import (
    Item,
    TaskSet,
    fake_tool_functions,
    fake_tools,
    given_tools_description,
    load_task_set,
)
from benchmarks.hf_agent_scoring import evaluate_code, reference_results, score_step
from qwen_agent.errors import ConfigurationError
from qwen_agent.hf_agent import HfAgent, parse_chat, parse_run
from qwen_agent.llm import LLM, get_llm
from qwen_agent.schema import GenerationConfig

SCORE_NAMES = ("tool_selection", "tool_used", "code")


@dataclass
class Completions:
    """Where completions come from: a replay file, the items already in the output file, or the model."""

    recorded: dict[str, str] = field(default_factory=dict)
    replay: bool = False

    def get(self, item_id: str, generate: Callable[[], str]) -> tuple[str, bool]:
        """(completion, is_new)."""
        if item_id in self.recorded:
            return self.recorded[item_id], False
        if self.replay:
            raise ConfigurationError(f"the replay file has no completion for item {item_id!r}")
        return generate(), True


@dataclass(frozen=True)
class _Step:
    """One item, answered and evaluated: what scoring needs."""

    item: Item
    completion: str
    is_new: bool
    explanation: str
    code: str
    answer: Any  # the result of the agent's code
    references: Any  # the reference result (a list of them when the problem has alternatives)


def read_records(path: Path) -> dict[str, dict[str, Any]]:
    """Records of a jsonl output file by item id; a truncated last line (a crash mid-write) is ignored."""
    records: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return records
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            print(f"warning: skipping unreadable line {number} of {path}", file=sys.stderr)
            continue
        if isinstance(record, dict) and isinstance(record.get("id"), str) and "completion" in record:
            records[record["id"]] = record
    return records


def score_items(mode: str, task_set: TaskSet, agent: HfAgent | None, completions: Completions,
                sink: Callable[[dict[str, Any]], None], progress: Callable[[Any], Any] = lambda x: x,
                ) -> list[dict[str, Any]]:
    """Generate (or reuse) and score every item of `mode`; new records go to `sink` as they are made.

    `agent` may be None when every completion is recorded (a replay).
    """
    tools = fake_tool_functions(task_set.tools)
    steps = _run_steps if mode == "run" else _chat_steps
    records = []
    for step in progress(steps(task_set, agent, completions, tools)):
        problem = step.item.problem
        scores = score_step(step.explanation, step.code, step.answer, step.references, problem.answer, tools)
        record = {
            "id": step.item.id, "mode": mode, "task": problem.task, "completion": step.completion,
            "explanation": step.explanation, "code": step.code, "result": _show(step.answer),
            "scores": asdict(scores),
        }
        records.append(record)
        if step.is_new:
            sink(record)
    return records


def _run_steps(task_set: TaskSet, agent: Any, completions: Completions,
               tools: dict[str, Callable[..., Any]]) -> Iterator[_Step]:
    for item in task_set.run:
        completion, is_new = completions.get(item.id, lambda item=item: agent.generate_run(item.problem.task))
        explanation, code = parse_run(completion)
        answer = evaluate_code(code, item.problem.inputs, tools)
        references = reference_results(item.problem.answer, item.problem.inputs, tools)
        yield _Step(item, completion, is_new, explanation, code, answer, references)


def _chat_steps(task_set: TaskSet, agent: Any, completions: Completions,
                tools: dict[str, Callable[..., Any]]) -> Iterator[_Step]:
    conversation: str | None = None
    agent_state: dict[str, Any] = {}
    reference_states: list[dict[str, Any]] = []
    for item in task_set.chat:
        if item.conversation != conversation:
            conversation, agent_state, reference_states = item.conversation, {}, []
            if agent is not None:
                agent.reset_chat()
        task = item.problem.task
        completion, is_new = completions.get(item.id, lambda task=task: agent.generate_chat(task))
        if agent is not None and not is_new:
            agent.record_chat_turn(task, completion)  # a recorded answer joins the transcript as if generated
        explanation, code = parse_chat(completion)
        answer = evaluate_code(code, item.problem.inputs, tools, agent_state)
        references = reference_results(item.problem.answer, item.problem.inputs, tools, reference_states)
        yield _Step(item, completion, is_new, explanation, code, answer, references)


def summarize(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Mean of each score over the items, in percent."""
    if not records:
        return dict.fromkeys(SCORE_NAMES, 0.0)
    return {name: 100 * sum(r["scores"][name] for r in records) / len(records) for name in SCORE_NAMES}


def markdown_table(mode: str, model: str, n_items: int, scores: dict[str, float]) -> str:
    return "\n".join([
        "| model | mode | items | tool selection | tool used | code |",
        "| --- | --- | --- | --- | --- | --- |",
        f"| {model} | {mode} | {n_items} | {scores['tool_selection']:.2f} | {scores['tool_used']:.2f} "
        f"| {scores['code']:.2f} |",
    ])


def _show(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hf_agent", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("run", "chat"), required=True)
    p.add_argument("--tasks", type=Path, required=True, help="the evaluation set as JSON (docs/hf-agent.md)")
    p.add_argument("--model", help="served model name (with --base-url) or a local checkpoint path")
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--api-key", default="EMPTY")
    p.add_argument("--backend", choices=("openai", "transformers"), help="default: openai with --base-url")
    p.add_argument("--prompt-style", choices=("text", "chat"), default="text",
                   help="text: raw completion prompt; chat: the prompt in a user message (chat templates)")
    p.add_argument("--run-template", type=Path, help="a run prompt template file (<<all_tools>>, <<prompt>>)")
    p.add_argument("--chat-template", type=Path, help="a chat prompt template file (<<all_tools>>)")
    p.add_argument("--max-tokens", type=int, default=512)
    p.add_argument("--output", type=Path, help="per-item jsonl (default hf_agent_<mode>.jsonl); resumable")
    p.add_argument("--results", type=Path, help="scores as JSON (default: --output with .json)")
    p.add_argument("--replay", type=Path, help="re-score the completions recorded in this jsonl; no model")
    p.add_argument("--no-progress", action="store_true")
    return p


def make_llm(args: argparse.Namespace) -> LLM:
    """The backend the arguments ask for."""
    backend = args.backend or "openai"
    if not args.model:
        raise ConfigurationError("--model is required (a served model name, or a local path with "
                                 "--backend transformers), unless --replay is given")
    if backend == "openai":
        if not args.base_url:
            raise ConfigurationError("--base-url is required for the openai backend (for a local checkpoint, "
                                     "pass --backend transformers)")
        return get_llm("openai", model=args.model, base_url=args.base_url, api_key=args.api_key)
    return get_llm("transformers", model=args.model)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _main(args)
    except ConfigurationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    task_set = load_task_set(args.tasks)
    output = args.output or Path(f"hf_agent_{args.mode}.jsonl")
    results_path = args.results or output.with_suffix(".json")
    if args.replay is not None:
        if not args.replay.exists():
            raise ConfigurationError(f"replay file not found: {args.replay}")
        completions = Completions({k: r["completion"] for k, r in read_records(args.replay).items()}, replay=True)
    else:
        completions = Completions({k: r["completion"] for k, r in read_records(output).items()})
    total = len(task_set.run if args.mode == "run" else task_set.chat)
    if args.replay is not None:
        records = _score_with_output(args, task_set, None, completions, output, total)
    else:
        config = GenerationConfig(max_tokens=args.max_tokens, temperature=0.0)
        with make_llm(args) as llm:
            agent = _make_agent(args, llm, task_set, config)
            records = _score_with_output(args, task_set, agent, completions, output, total)
    scores = summarize(records)
    model = args.model or f"replay:{args.replay.name}"
    print(markdown_table(args.mode, model, len(records), scores))
    summary = {"mode": args.mode, "model": model, "tasks": str(args.tasks), "items": len(records),
               "scores": scores}
    results_path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return 0


def _make_agent(args: argparse.Namespace, llm: LLM, task_set: TaskSet, config: GenerationConfig) -> HfAgent:
    try:
        return HfAgent(llm, fake_tools(task_set.tools), prompt_style=args.prompt_style, config=config,
                       tools_description=given_tools_description(task_set.tools), **_templates(args))
    except ValueError as e:  # a template that does not fit
        raise ConfigurationError(str(e)) from None


def _templates(args: argparse.Namespace) -> dict[str, str]:
    templates = {}
    for key, path in (("run_template", args.run_template), ("chat_template", args.chat_template)):
        if path is not None:
            try:
                templates[key] = path.read_text(encoding="utf-8")
            except OSError as e:
                raise ConfigurationError(f"cannot read the {key.replace('_', ' ')} {path}: {e}") from None
    return templates


def _score_with_output(args: argparse.Namespace, task_set: TaskSet, agent: HfAgent | None, completions: Completions,
                       output: Path, total: int) -> list[dict[str, Any]]:
    progress = _progress_bar(total, args.mode, disable=args.no_progress)
    if args.replay is not None:  # a replay writes no per-item file
        return score_items(args.mode, task_set, agent, completions, lambda record: None, progress)
    if output.exists() and output.stat().st_size and not output.read_bytes().endswith(b"\n"):
        with output.open("a", encoding="utf-8") as sink:
            sink.write("\n")  # end a line cut short by a crash, so that the next record starts clean
    with output.open("a", encoding="utf-8") as sink:
        def write(record: dict[str, Any]) -> None:
            sink.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.flush()

        return score_items(args.mode, task_set, agent, completions, write, progress)


def _progress_bar(total: int, mode: str, *, disable: bool) -> Callable[[Any], Any]:
    if disable:
        return lambda iterable: iterable
    try:
        from tqdm import tqdm
    except ImportError:
        return lambda iterable: iterable
    return lambda iterable: tqdm(iterable, total=total, desc=f"hf_agent {mode}", unit="item")


if __name__ == "__main__":
    sys.exit(main())
