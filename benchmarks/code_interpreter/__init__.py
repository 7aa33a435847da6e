"""The code-interpreter benchmark (math, visualization, general), as Qwen-Agent's benchmark ran and scored it.

    python -m benchmarks.code_interpreter --task math --gsm8k gsm8k/test.jsonl --model Qwen/Qwen-7B-Chat
    python -m benchmarks.code_interpreter --task visualization --model qwen --base-url http://127.0.0.1:8000/v1 \\
        --judge http://127.0.0.1:9000/v1 --judge-model qwen-vl-plus
    python -m benchmarks.code_interpreter --task general --data eval_code_interpreter_v1.jsonl --model ...
    python -m benchmarks.code_interpreter --task math --oracle --gsm8k gsm8k/test.jsonl --workers 2
    python -m benchmarks.code_interpreter --task all --replay runs/code_interpreter/old.jsonl --gsm8k ...

Every piece of generated code runs in a sandboxed Jupyter kernel (qwen_agent.interpreter), a fresh kernel per
case; nothing is executed in this process and nothing is installed. Metrics (docs/benchmarks.md), by default
as Qwen-Agent's published `benchmark/` defined them (our older rules behind the options of the "rules" group):
- math: accuracy; the last standalone number of the generated text equals the gold, read by the same rule
  from the whole reference solution (`--gold exact`: the number after `#### `);
- visualization-hard / -easy: share of cases with a figure whose observation holds no `error:`/`Traceback`
  that a vision judge calls "right" (easy cases come with a first code round already done);
- general: executable rate; the first Action Input, behind the published pre_load, runs as plain Python in
  the case's sandbox (missing code counts as not executable).

`--tool-format react` (default) is the published protocol: Qwen's ReAct prompts. `--task math --tool-format
hermes` (or `auto`, or `react,hermes` for both side by side in one table and chart) prompts the model in its
native tool-call format instead (`native_episode`): a row beyond the paper, NOT the published protocol, scored by
the same published rule.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import _harness as h
from benchmarks.code_interpreter.episode import (
    Episode,
    EpisodeRules,
    extract_code,
    gold_number,
    last_number,
    split_query,
)
from benchmarks.code_interpreter.general_check import run_general_check
from benchmarks.code_interpreter.native_episode import NativeEpisode, NativeTurns, native_request
from benchmarks.code_interpreter.report import HEADER, TASKS, chart, report, runs_of, summarise_formats
from benchmarks.code_interpreter.rules import figures_in, general_check_code, has_clean_figure
from benchmarks.code_interpreter.sources import (
    ModelTurns,
    OracleTurns,
    ReplayTurns,
    VisionJudge,
    gsm8k_oracle_code,
    split_transcript,
)
from benchmarks.published import CODE_INTERPRETER_20231206
from qwen_agent import LLM
from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import FORMATS
from qwen_agent.interpreter import KernelPool, SandboxConfig

DATA_DIR = Path(__file__).parents[1] / "data" / "code_interpreter"
GSM8K_TEST = Path(__file__).parents[1] / "data" / "gsm8k" / "test.jsonl"  # openai/grade-school-math, MIT (LICENSE beside it)
# Executions allowed per case, as the published runner allowed them (GSM8K used the default of 3).
EXEC_LIMIT = {"math": 3, "visualization": 3, "general": 1}


# --- cases ------------------------------------------------------------------------------------------------
def load_gsm8k(path: Path | None) -> list[dict[str, Any]]:
    if path is None:
        raise ConfigurationError("--gsm8k: no GSM8K file given")
    cases = []
    for i, row in enumerate(h.read_jsonl(path)):
        try:
            gold_number(row["answer"], "exact")
            question = row["question"]
        except (KeyError, TypeError, ValueError) as e:
            raise ConfigurationError(f"{path}: line {i + 1} is not a GSM8K record with a '#### ' answer") from e
        cases.append({"id": f"math:{i}", "task": "math", "query": question, "answer": row["answer"], "lang": "en",
                      "files": []})
    return cases


def load_tasks(path: Path, task: str, skip_negative: bool = False) -> list[dict[str, Any]]:
    """Cases of the published jsonl (`query`, `tags`, `lang`, `input_file_path`) whose tags name `task`.

    As `inference_and_execute.py` `main()` (line ~190) selects them: `task` occurs in `tags`; rows whose
    `task` says "negative" are kept (the General metric skips them in `eval_code_execution_rate`, but they are
    generated and the visualization metric scores them). `skip_negative` (ours, `--skip-negative`) drops them.
    """
    cases = []
    for i, row in enumerate(h.read_jsonl(path)):
        tags = row.get("tags", "")
        tags = ",".join(tags) if isinstance(tags, list) else str(tags)
        negative = "negative" in str(row.get("task", ""))
        if task not in tags or (skip_negative and negative):
            continue
        if not isinstance(row.get("query"), str):
            raise ConfigurationError(f"{path}: line {i + 1} has no string 'query'")
        files = row.get("input_file_path") or []
        files = [files] if isinstance(files, str) else list(files)
        cases.append({"id": f"{task}:{row.get('id', i)}", "task": task, "query": row["query"],
                      "lang": row.get("lang", "en"), "files": [_resolve_file(path.parent, f) for f in files],
                      "reference_code": row.get("reference_code"), "negative": negative})
    return cases


def _resolve_file(base: Path, name: str) -> str:
    """An upload file: as given, beside the jsonl, in its `files/` folder, or in the published layout's
    `upload_file_clean/` (beside the jsonl or beside its folder: Qwen-Agent kept `eval_data/` and
    `upload_file_clean/` side by side, `inference_and_execute.py` lines ~25-30)."""
    leaf = Path(name).name
    for candidate in (Path(name), base / name, base / "files" / leaf, base / "upload_file_clean" / leaf,
                      base.parent / "upload_file_clean" / leaf):
        if candidate.is_file():
            return str(candidate)
    raise ConfigurationError(f"upload file {name!r} not found (looked beside {base}, in its files/ folder and in "
                             "upload_file_clean/ beside it or its parent)")


# --- one case -----------------------------------------------------------------------------------------------
class Runner:
    """Turns a case into its stored record: sources the turns, runs the episode in a pooled kernel, scores."""

    def __init__(self, args: argparse.Namespace, pool: KernelPool, image_root: Path,
                 replay: dict[str, list[str]] | None, judge: VisionJudge | None, llm: LLM | None = None) -> None:
        self.args, self.pool, self.image_root, self.replay, self.judge = args, pool, image_root, replay, judge
        self.requests = {f: native_request(f, llm) for f in args.formats if f != "react"}
        self.model_turns: ModelTurns | None = None
        if llm is not None:
            lock, config = h.generation_lock(args), h.generation_config(args, llm)
            self.model_turns = ModelTurns(llm, config, lock)
            self.native_turns = NativeTurns(llm, config, lock)

    def source(self, case: dict[str, Any]):
        if self.args.oracle:
            if case["task"] == "math":
                return OracleTurns(gsm8k_oracle_code(case["answer"]))
            if not case.get("reference_code"):
                raise ConfigurationError(f"--oracle: case {case['id']} has no 'reference_code'")
            return OracleTurns(case["reference_code"])
        if self.replay is not None:
            return ReplayTurns(self.replay[case["id"]])
        return self.model_turns if case.get("format", "react") == "react" else self.native_turns

    def episode(self, case: dict[str, Any], session: Any, image_dir: Path) -> Episode:
        common = {"timeout": self.args.timeout, "image_dir": image_dir, "rules": episode_rules(self.args)}
        fmt = case.get("format", "react")
        if fmt == "react":
            return Episode(session, self.source(case), **common)
        return NativeEpisode(session, self.source(case), self.requests[fmt], **common)

    def __call__(self, case: dict[str, Any]) -> dict[str, Any]:
        question, prefix = split_query(case["query"])
        session = self.pool.acquire()
        try:
            names = [session.upload(f) for f in case["files"]]
            image_dir = self.image_root / re.sub(r"[^\w.-]", "_", case["id"])
            result = self.episode(case, session, image_dir).run(question, prefix, names, case["lang"], self.args.max_executions or
                                 EXEC_LIMIT[case["task"]])
            if case["task"] == "general" and self.args.general_rule == "published":
                program = general_check_code(result["gen"], case["query"], extract_code)
                check = run_general_check(session, program, names, self.args.general_timeout)
                result["general_check"] = {"executable": check.executable, "reason": check.reason,
                                           "detail": check.detail}
        finally:
            self.pool.release(session)
        record = {"id": case["id"], "task": case["task"], "lang": case["lang"],
                  "tool_format": case.get("format", "react"), **result}
        record.update(self.score(case, question, prefix, result))
        return record

    def score(self, case: dict[str, Any], question: str, prefix: str, result: dict[str, Any]) -> dict[str, Any]:
        own = [e for e in result["executions"] if not e["given"]]
        if case["task"] == "math":
            pred = last_number(result["gen"])
            gold, exact = gold_number(case["answer"], self.args.gold), gold_number(case["answer"], "exact")
            return {"pred": pred, "gold": gold, "correct": pred is not None and pred == gold,
                    "correct_exact_gold": pred is not None and pred == exact}
        if case["task"] == "general":
            if "general_check" in result:
                check = result["general_check"]
                return {"missing_code": check["reason"] == "missing code", "executable": check["executable"],
                        "failure": check["reason"], "negative": case.get("negative", False)}
            return {"missing_code": not own, "executable": bool(own) and own[0]["status"] == "ok",
                    "negative": case.get("negative", False)}
        if self.args.figure_rule == "published":
            images = figures_in(result["gen"])
            clean = bool(images) and has_clean_figure(result["gen"], images)
        else:  # ours: figures of executions whose kernel status was ok
            images = [p for e in own for p in e["images"]]
            clean = any(e["images"] and e["status"] == "ok" for e in own)
        out: dict[str, Any] = {"level": "easy" if prefix else "hard", "images": images, "clean_image": clean,
                               "right": None, "judge_reply": None}
        if not clean:
            out["right"] = False
        elif self.judge is not None:
            out["right"], out["judge_reply"] = self.judge.judge(images, question, case["lang"])
        return out


# --- command line -------------------------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks.code_interpreter", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--task", choices=(*TASKS, "all"), default="all")
    p.add_argument("--gsm8k", type=Path, default=GSM8K_TEST,
                   help="GSM8K test split jsonl (question, answer) for --task math; default: the bundled copy")
    p.add_argument("--data", type=Path, default=DATA_DIR / "tasks.jsonl",
                   help="visualization/general tasks in the published jsonl format; default: the bundled sample")
    p.add_argument("--judge", metavar="URL", help="OpenAI-compatible endpoint of a vision model for visualization")
    p.add_argument("--judge-model", default="gpt-4-vision-preview", help="model name at --judge")
    p.add_argument("--judge-api-key", default="EMPTY")
    p.add_argument("--oracle", action="store_true", help="answer with reference solutions (self-check)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per code execution (default 30)")
    p.add_argument("--max-executions", type=int, help="override the published per-task execution limit")
    p.add_argument("--limit", type=int, help="only the first N cases of each task")
    p.add_argument("--tool-format", dest="formats", type=lambda v: [f.strip() for f in v.split(",") if f.strip()],
                   default=["react"], metavar="FORMATS",
                   help="react (default) = the published protocol, Qwen's ReAct prompts; hermes, auto (the "
                   "model's chat template's own) or another of qwen_agent.formats.FORMATS = a native tool-call format, a row BEYOND THE PAPER, not "
                   "the published protocol (--task math only); comma-separated for rows side by side, e.g. "
                   "react,hermes. Scored by the published rules either way")
    r = p.add_argument_group("rules (default: the published definition; the other choice is this harness's "
                             "older rule, opt-in; see docs/benchmarks.md)")
    r.add_argument("--gold", choices=("published", "exact"), default="published",
                   help="GSM8K gold: published = the last number of the solution (`#### 2,125` -> 2); "
                   "exact (ours) = the number after `#### `")
    r.add_argument("--general-rule", choices=("published", "kernel"), default="published",
                   help="General: published = re-run the first Action Input as plain Python behind pre_load; "
                   "kernel (ours) = the kernel's status of the first execution")
    r.add_argument("--general-timeout", type=float, default=120.0,
                   help="seconds for the General re-run (the original had no limit; default 120)")
    r.add_argument("--figure-rule", choices=("published", "status"), default="published",
                   help="clean figure and episode end: published = no `error:`/`Traceback` in the observation; "
                   "status (ours) = the kernel's status is ok")
    r.add_argument("--observations", choices=("published", "merged"), default="published",
                   help="observation layout: published = one block per output message; merged (ours)")
    r.add_argument("--easy-observation", action="store_true",
                   help="ours: show the model the output of an easy case's given round (the original did not)")
    r.add_argument("--preamble", choices=("published", "lazy"), default="published",
                   help="kernel preamble: published START_CODE (theme, font, imports) or lazy (ours)")
    r.add_argument("--skip-negative", action="store_true",
                   help="ours: drop rows whose task says 'negative' (the original kept them)")
    r.add_argument("--judge-prompt", choices=("published", "ours"), default="published")
    r.add_argument("--judge-temperature", type=float,
                   help="the judge's temperature (default: unset, the endpoint's default, as published)")
    h.add_model_args(p)
    return p.parse_args(argv)


def task_file(path: Path) -> Path:
    """--data as given, or, for a folder, the published file in it (`eval_code_interpreter_v1.jsonl`, directly
    or under `eval_data/`, Qwen-Agent's layout)."""
    if not path.is_dir():
        return path
    for candidate in (path / "eval_code_interpreter_v1.jsonl", path / "eval_data" / "eval_code_interpreter_v1.jsonl"):
        if candidate.is_file():
            return candidate
    raise ConfigurationError(f"{path} is a folder without eval_code_interpreter_v1.jsonl (nor eval_data/ holding it)")


def load_cases(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The cases of the task(s), once per tool-call format, question by question (so that a partial run
    compares the formats on the same questions); a native-format case's id is prefixed with its format."""
    tasks = TASKS if args.task == "all" else (args.task,)
    cases: list[dict[str, Any]] = []
    for task in tasks:
        found = load_gsm8k(args.gsm8k) if task == "math" else load_tasks(task_file(args.data), task, args.skip_negative)
        cases += [c if f == "react" else {**c, "id": f"{f}:{c['id']}", "format": f}
                  for c in found[: args.limit] for f in args.formats]
    return cases


def check_formats(args: argparse.Namespace) -> None:
    """--tool-format: known names; a native format only for math and never with --oracle (ReAct text)."""
    unknown = [f for f in args.formats if f not in FORMATS]
    if unknown or not args.formats:
        raise ConfigurationError(f"--tool-format: unknown {unknown or 'empty'}; use some of {list(FORMATS)}, "
                                 "comma-separated")
    native = [f for f in args.formats if f != "react"]
    if native and args.task != "math":
        raise ConfigurationError(f"--tool-format {','.join(native)} runs only with --task math (the other tasks "
                                 "come with ReAct rounds already written)")
    if native and args.oracle:
        raise ConfigurationError("--oracle writes ReAct text: use it with --tool-format react")
    if (chosen := [f for f in native if FORMATS[f].with_backend]) and args.replay:
        raise ConfigurationError("--replay reads recorded turns without the model: name the format it wrote "
                                 f"(--tool-format hermes), not {','.join(chosen)}")


def episode_rules(args: argparse.Namespace) -> EpisodeRules:
    return EpisodeRules(observations=args.observations, end="published" if args.figure_rule == "published"
                        else "status", easy_observation=args.easy_observation, preamble=args.preamble)


def load_replay(paths: Sequence[Path], cases: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    """Recorded turns per case id: our results (`turns`) or published results (`gen`/`completion`, matched by
    id or by question text)."""
    by_id: dict[str, list[str]] = {}
    by_query: dict[str, list[str]] = {}
    for path in paths:
        for row in h.read_jsonl(path):
            text = row.get("gen", row.get("completion"))
            turns = row.get("turns") or (split_transcript(text) if isinstance(text, str) else None)
            if turns is None:
                continue
            if "id" in row:
                by_id[str(row["id"])] = list(turns)
            query = row.get("query", row.get("question"))
            if isinstance(query, str):
                by_query[query] = list(turns)
    out = {c["id"]: by_id.get(c["id"], by_query.get(c["query"])) for c in cases}
    missing = [k for k, v in out.items() if v is None]
    if missing:
        raise ConfigurationError(f"--replay has no recorded turns for {len(missing)} cases, e.g. {missing[:3]}")
    return out  # type: ignore[return-value]


def run(args: argparse.Namespace, llm: LLM | None = None) -> dict[str, Any]:
    """Generate (or replay), execute, score and report. `llm` overrides the model the options name."""
    check_formats(args)
    cases = load_cases(args)
    replay = load_replay(args.replay, cases) if args.replay and not args.oracle else None
    judge = (VisionJudge(args.judge, args.judge_model, args.judge_api_key, prompt=args.judge_prompt,
                         temperature=args.judge_temperature) if args.judge else None)
    label = h.run_label(args)
    formats = "" if args.formats == ["react"] else "-" + "+".join(args.formats)
    output = args.output or Path("runs") / "code_interpreter" / f"{label}-{args.task}{formats}.jsonl"
    owned = llm is None and not args.oracle and replay is None
    if owned:
        llm = h.make_llm(args)
    try:
        with h.ResultStore(output) as store, KernelPool(size=args.workers, sandbox=SandboxConfig()) as pool:
            runner = Runner(args, pool, output.with_suffix("") / "images", replay, judge,
                            None if args.oracle or replay is not None else llm)
            h.run_cases(cases, runner, store, workers=args.workers, desc=f"code_interpreter:{args.task}",
                        progress=not args.no_progress)
            records = [store.records[c["id"]] for c in cases]
    finally:
        if owned and llm is not None:
            llm.close()
    by_format = summarise_formats(records, args.formats)
    runs = runs_of(label, by_format)
    data = {"benchmark": "code_interpreter", "run": label, "task": args.task,
            "metrics": by_format[args.formats[0]], "by_format": by_format, "results": str(output),
            "decoding": None if runner.model_turns is None else runner.model_turns.config.model_dump(),
            "published": {k: dict(zip(HEADER[1:], v, strict=True)) for k, v in CODE_INTERPRETER_20231206.items()}}
    h.write_report(output, report(runs), data, lambda path: chart(path, runs))
    return data


def main(argv: Sequence[str] | None = None) -> int:
    return h.cli_main(parse_args, run, argv)

