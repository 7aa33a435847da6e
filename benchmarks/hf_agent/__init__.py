"""HuggingFace Agent benchmark: `python -m benchmarks.hf_agent --mode run|chat --tasks PATH ...`.

Reproduces transformers' `evaluate_agent` (run mode, 27 task phrasings) and `evaluate_chat_agent` (chat mode,
47 conversation steps) for a Qwen model behind an OpenAI-compatible server or loaded locally:

    python -m benchmarks.hf_agent --mode run --tasks hf_agent_tasks.json \\
        --base-url http://127.0.0.1:8000/v1 --model Qwen-7B-Chat
    python -m benchmarks.hf_agent --mode chat --tasks hf_agent_tasks.json --model ./Qwen-7B-Chat --backend transformers
    python -m benchmarks.hf_agent --mode run --tasks hf_agent_tasks.json --replay hf_agent_run.jsonl

Each item's completion and scores are stored (flushed and fsynced) in a jsonl file as soon as it is done; a
rerun skips the items already there, so an interrupted run resumes, mid-conversation in chat mode. `--replay
FILE` re-scores recorded completions without a model. The scores are printed as a markdown table and written
as JSON. The results file, model options and progress bar are those of `benchmarks/_harness.py`. See
docs/hf-agent.md.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from benchmarks.hf_agent.scoring import EVALUATORS, StepScore, reference_results, run_code, score_step
from benchmarks.hf_agent.task_set import (
    Item,
    TaskSet,
    fake_tool_functions,
    fake_tools,
    given_tools_description,
    load_task_set,
)
from qwen_agent.errors import ConfigurationError
from qwen_agent.hf_agent import HfAgent, parse_chat, parse_run
from qwen_agent.llm import LLM

TASKS_JSON = Path(__file__).parents[1] / "data" / "hf_agent" / "tasks.json"  # transformers 4.35.2, Apache-2.0 (SOURCE.md)
SCORE_NAMES = ("tool_selection", "tool_used", "code")
HEADER = ["model", "mode", "items", "tool selection", "tool used", "code"]


class Scorer:
    """Answers and scores the items of one mode, as `run_cases` work: a run-mode case is one item; a chat-mode
    case is one conversation, its steps answered in order with the transcript and variables carried over.

    A completion comes from the store (a step finished before a resume), the replay, or the agent.

    Args:
        mode: "run" or "chat".
        task_set: the evaluation set.
        store: the results so far.
        make_agent: builds an agent (one per conversation, as a chat's transcript is the agent's state);
            None when every completion is recorded (a replay).
        replay: recorded completions by item id, or None to ask the agent.
        lock: held around each generation (a local model generates one at a time).
    """

    def __init__(self, mode: str, task_set: TaskSet, store: h.ResultStore, make_agent: Callable[[], HfAgent] | None,
                 replay: dict[str, str] | None = None, lock: threading.Lock | None = None,
                 evaluator: str = "transformers-4.35", limit: int | None = None) -> None:
        self.mode, self.store, self.make_agent, self.replay, self.lock = mode, store, make_agent, replay, lock
        self.evaluator = evaluator
        self.items = _first(task_set.run if mode == "run" else task_set.chat, limit, by_conversation=mode == "chat")
        self.tools = fake_tool_functions(task_set.tools)
        self.run_agent = make_agent() if make_agent is not None and mode == "run" else None

    def cases(self) -> list[h.Record]:
        """The units of work: items (run mode) or conversations listing their steps (chat mode)."""
        if self.mode == "run":
            return [{"id": item.id, "item": item} for item in self.items]
        conversations: dict[str | None, list[Item]] = {}
        for item in self.items:
            conversations.setdefault(item.conversation, []).append(item)
        return [{"id": c, "steps": [i.id for i in items], "items": items} for c, items in conversations.items()]

    def __call__(self, case: h.Record) -> h.Record | Iterator[h.Record]:
        if self.mode == "run":
            return self._run_item(case["item"])
        return self._conversation(case["items"], self.make_agent() if self.make_agent is not None else None)

    def rescore(self) -> list[h.Record]:
        """Every item scored again from its stored completion, once all are stored: the scores follow this
        version of the scoring, and records holding only `id` and `completion` count."""
        if self.mode == "run":
            return [self._run_item(item) for item in self.items]
        return [r for case in self.cases() for r in self._conversation(case["items"], None)]

    def _completion(self, item: Item, generate: Callable[[], str]) -> tuple[str, bool]:
        """(completion, is_new)."""
        done = self.store.records.get(item.id)
        if done is not None:
            return done["completion"], False
        if self.replay is not None:
            if item.id not in self.replay:
                raise ConfigurationError(f"the replay file has no completion for item {item.id!r}")
            return self.replay[item.id], False
        with self.lock or contextlib.nullcontext():
            return generate(), True

    def _run_item(self, item: Item) -> h.Record:
        agent = self.run_agent
        completion, _ = self._completion(item, lambda: agent.generate_run(item.problem.task))
        explanation, code = parse_run(completion)
        outcome = run_code(code, item.problem.inputs, self.tools, evaluator=self.evaluator)
        references = reference_results(item.problem.answer, item.problem.inputs, self.tools, evaluator=self.evaluator)
        return self._record(item, completion, explanation, code, outcome, references)

    def _conversation(self, items: Sequence[Item], agent: HfAgent | None) -> Iterator[h.Record]:
        """The steps of one conversation in order; `agent` (None: every completion is stored or replayed) keeps
        the transcript."""
        agent_state: dict[str, Any] = {}
        reference_states: list[dict[str, Any]] = []
        for item in items:
            task = item.problem.task
            completion, is_new = self._completion(item, lambda task=task: agent.generate_chat(task))
            if agent is not None and not is_new:
                agent.record_chat_turn(task, completion)  # a stored answer joins the transcript as if generated
            explanation, code = parse_chat(completion)
            outcome = run_code(code, item.problem.inputs, self.tools, agent_state, self.evaluator)
            references = reference_results(item.problem.answer, item.problem.inputs, self.tools, reference_states,
                                           self.evaluator)
            yield self._record(item, completion, explanation, code, outcome, references)

    def _record(self, item: Item, completion: str, explanation: str, code: str, outcome: Any,
                references: Any) -> h.Record:
        problem = item.problem
        unparsable = original_parse_failure(self.mode, completion)
        if unparsable:  # transformers' parser raised here: the original run stopped; the item scores 0
            scores = StepScore(0.0, 0.0, 0.0)
        else:
            scores = score_step(explanation, code, outcome.value, references, problem.answer, self.tools)
        return {"id": item.id, "mode": self.mode, "task": problem.task, "completion": completion,
                "explanation": explanation, "code": code, "result": _show(outcome.value), "scores": asdict(scores),
                "aborts_original": unparsable or outcome.aborted}


def _first(items: Sequence[Item], limit: int | None, *, by_conversation: bool) -> list[Item]:
    """The first `limit` items, or the items of the first `limit` conversations (a conversation is not cut)."""
    if limit is None:
        return list(items)
    if not by_conversation:
        return list(items[:limit])
    kept = list(dict.fromkeys(item.conversation for item in items))[:limit]
    return [item for item in items if item.conversation in kept]


def original_parse_failure(mode: str, completion: str) -> str | None:
    """Why transformers 4.35's parser raised on `completion`, ending the original run; None when it did not.

    Run mode, `tools/agents.py` `clean_code_for_run()` (lines 180-193): the text must split into exactly two
    parts at `Answer:`. Chat mode, `clean_code_for_chat()` (lines 162-177): an answer with no fence line gave
    code None (then `name in None` raised in `evaluate_code`), and an unclosed block indexed past the end.
    """
    if mode == "run":
        n = f"I will use the following {completion}".count("Answer:")
        return None if n == 1 else ("no `Answer:`" if n == 0 else f"{n} `Answer:` markers")
    lines = completion.split("\n")
    fences = [i for i, line in enumerate(lines) if line.lstrip().startswith("```")]
    if not fences:
        return "no code block"
    return None if len(fences) > 1 else "unclosed code block"


def summarize(records: Sequence[h.Record]) -> dict[str, float]:
    """Mean of each score over the items, in percent."""
    if not records:
        return dict.fromkeys(SCORE_NAMES, 0.0)
    return {name: 100 * sum(r["scores"][name] for r in records) / len(records) for name in SCORE_NAMES}


def _show(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else repr(value)


def load_replay(paths: Sequence[Path]) -> dict[str, str]:
    """Recorded completions by item id, from jsonl files of this benchmark's records (`id`, `completion`)."""
    recorded: dict[str, str] = {}
    for path in paths:
        for row in h.read_jsonl(path):
            if isinstance(row.get("id"), str) and isinstance(row.get("completion"), str):
                recorded[row["id"]] = row["completion"]
    return recorded


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.hf_agent", description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("run", "chat"), required=True)
    p.add_argument("--tasks", type=Path, default=TASKS_JSON,
                   help="the evaluation set as JSON (docs/hf-agent.md); default: the bundled transformers 4.35 set")
    p.add_argument("--prompt-style", choices=("text", "chat", "qwen"), default="text",
                   help="text: raw completion prompt; chat: the prompt in a user message, the run cue as the "
                   "assistant's start; qwen: as Qwen's QWenAgent (eval/evaluate_plugin.py) sent it to a chat "
                   "model, which gave the published Qwen numbers")
    p.add_argument("--evaluator", choices=EVALUATORS, default="transformers-4.35",
                   help="transformers-4.35 (published: the subset it evaluated) or qwen-agent (ours, broader)")
    p.add_argument("--limit", type=int, help="only the first N items (run) or conversations (chat)")
    p.add_argument("--run-template", type=Path, help="a run prompt template file (<<all_tools>>, <<prompt>>)")
    p.add_argument("--chat-template", type=Path, help="a chat prompt template file (<<all_tools>>)")
    p.add_argument("--results", type=Path, help="scores as JSON (default: --output with .json)")
    h.add_model_args(p, max_tokens=512, output_default="hf_agent_<mode>.jsonl")
    return p.parse_args(argv)


def run(args: argparse.Namespace, llm: LLM | None = None) -> h.Record:
    """Generate (or replay), store, score and report; returns the summary written as JSON.

    `llm` overrides the model the options name (for use from Python)."""
    task_set = load_task_set(args.tasks)
    output = args.output or Path(f"hf_agent_{args.mode}.jsonl")
    replay = load_replay(args.replay) if args.replay else None
    owned = replay is None and llm is None
    if owned:
        llm = h.make_llm(args)
    try:
        make_agent = None if replay is not None else _agent_factory(args, llm, task_set)
        with h.ResultStore(None if replay is not None else output) as store:  # a replay writes no per-item file
            scorer = Scorer(args.mode, task_set, store, make_agent, replay, h.generation_lock(args), args.evaluator,
                            args.limit)
            h.run_cases(scorer.cases(), scorer, store, workers=args.workers, desc=f"hf_agent {args.mode}",
                        progress=not args.no_progress)
            records = scorer.rescore()
    finally:
        if owned and llm is not None:
            llm.close()
    scores = summarize(records)
    label = h.run_label(args)
    aborted = [r["id"] for r in records if r.get("aborts_original")]
    markdown = h.markdown_table(HEADER, [[label, args.mode, len(records), *(f"{scores[k]:.2f}" for k in SCORE_NAMES)]])
    markdown += (f"\n\nEvaluator: {args.evaluator}; prompt style: {args.prompt_style}. "
                 f"{len(aborted)} items would have aborted the original run (transformers' parser or interpreter "
                 "raised; a parser failure scores 0 here).")
    summary = {"mode": args.mode, "model": label, "tasks": str(args.tasks), "items": len(records), "scores": scores,
               "evaluator": args.evaluator, "prompt_style": args.prompt_style, "would_abort_original": aborted}
    h.write_report(None if replay is not None else output, markdown, summary,
                   json_path=args.results or output.with_suffix(".json"))
    return summary


def _agent_factory(args: argparse.Namespace, llm: LLM, task_set: TaskSet) -> Callable[[], HfAgent]:
    """Builds agents with the options' prompt settings; a template that does not fit is refused here."""
    templates = _templates(args)
    tools, description = fake_tools(task_set.tools), given_tools_description(task_set.tools)

    def make() -> HfAgent:
        return HfAgent(llm, tools, prompt_style=args.prompt_style, config=h.generation_config(args, llm),
                       tools_description=description, **templates)

    try:
        make()
    except ValueError as e:  # a template that does not fit
        raise ConfigurationError(str(e)) from None
    return make


def _templates(args: argparse.Namespace) -> dict[str, str]:
    templates = {}
    for key, path in (("run_template", args.run_template), ("chat_template", args.chat_template)):
        if path is not None:
            try:
                templates[key] = path.read_text(encoding="utf-8")
            except OSError as e:
                raise ConfigurationError(f"cannot read the {key.replace('_', ' ')} {path}: {e}") from None
    return templates


def main(argv: Sequence[str] | None = None) -> int:
    return h.cli_main(parse_args, run, argv)

