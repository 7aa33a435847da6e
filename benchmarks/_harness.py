"""What every benchmark harness needs, written once.

| piece                      | what it does                                                                      |
|----------------------------|-----------------------------------------------------------------------------------|
| `ResultStore`              | append-only jsonl of finished cases: fsync per case, resumable, torn-tail safe    |
| `run_cases`                | runs the unfinished cases on N worker threads, stores each as it finishes; a case  |
|                            | may be a sequence of steps (a conversation), each stored as it finishes            |
| `add_model_args`/`make_llm`| the CLI's model flags (`qwen_agent.llm_options`), --max-tokens, --workers, --output |
| `markdown_table`           | a results table in markdown                                                        |
| `bar_chart`                | a grouped PNG bar chart (matplotlib Agg) of this run beside published rows         |
| `write_report`             | writes `<stem>.md`, `<stem>.json`, `<stem>.png` next to the results file           |

Crash safety: a case is written as one line, flushed and fsynced before the next is reported done, so a
`kill -9` loses at most the cases in flight. On reopening, a torn last line (no newline: the process died
mid-write) is cut off; cases already stored are skipped, so a rerun never duplicates one. A lock on the
file refuses a second concurrent run on the same output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from qwen_agent import LLM, GenerationConfig
from qwen_agent.errors import ConfigurationError, QwenAgentError
from qwen_agent.llm_options import add_llm_arguments, llm_from_args, resolve_backend

Record = dict[str, Any]


class ResultStore:
    """Finished cases of one run, one JSON object per line, keyed by `key`.

    Args:
        path: the jsonl file (created with its folder when missing); None keeps the records in memory only
            (a run whose results need no file, e.g. a re-scoring).
        key: the field holding the case id.
    """

    def __init__(self, path: str | Path | None, key: str = "id") -> None:
        self.key = key
        self._lock = threading.Lock()
        self.records: dict[str, Record] = {}
        self.dropped_tail = False
        self._file = None
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self._open(self.path)

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "a+b")  # noqa: SIM115 - held open for the run, closed in close()
        try:
            import fcntl

            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise ConfigurationError(f"{path} is in use by another run; wait for it or pick --output") from None
        except ImportError:  # no fcntl (Windows): no protection against concurrent runs
            pass
        self.dropped_tail = self._load()

    def _load(self) -> bool:
        """Read finished cases; cut a torn last line. Returns whether a torn tail was dropped."""
        self._file.seek(0)
        data = self._file.read()
        end = data.rfind(b"\n") + 1
        for lineno, line in enumerate(data[:end].decode("utf-8").splitlines(), 1):
            if line.strip():
                record = _json_line(self.path, lineno, line)
                self.records.setdefault(str(record.get(self.key)), record)  # first copy wins on a duplicate
        torn = end < len(data)
        if torn:  # only once the rest is known good: a bad file is left as it was
            self._file.truncate(end)
        return torn

    def __contains__(self, case_id: object) -> bool:
        return str(case_id) in self.records

    def __len__(self) -> int:
        return len(self.records)

    def append(self, record: Record) -> bool:
        """Write one finished case durably (flush + fsync). Thread-safe. False (nothing written) when the
        case is already stored."""
        case_id = str(record[self.key])
        line = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        with self._lock:
            if case_id in self.records:
                return False
            if self._file is not None:
                self._file.seek(0, os.SEEK_END)
                self._file.write(line)
                self._file.flush()
                os.fsync(self._file.fileno())
            self.records[case_id] = record
            return True

    def close(self) -> None:
        if self._file is not None:
            self._file.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_cases(
    cases: Sequence[Record],
    work: Callable[[Record], Record | Iterable[Record]],
    store: ResultStore,
    *,
    workers: int = 1,
    desc: str = "cases",
    progress: bool = True,
) -> int:
    """Run `work` on every case not yet in `store`, `workers` at a time; store each result as it finishes.

    A case is normally one record: `work` returns it. A case made of steps that must run in order (the turns
    of a conversation) lists its steps' record ids under `"steps"` and `work` yields one record per step; each
    is stored as it is yielded, so a crash keeps the finished steps. Such a case is done when all its steps are
    stored; when it is resumed, `work` finds its finished steps in `store.records` (yielding them again is
    harmless: a stored id is never written twice). The progress bar counts records.

    The first exception stops new cases from starting, lets the running ones finish (and be stored), and
    is raised: a rerun resumes from there. Returns how many cases ran now.
    """
    if workers < 1:
        raise ConfigurationError("--workers must be at least 1")
    todo = [c for c in cases if not all(s in store for s in _steps(c, store.key))]
    total = sum(len(_steps(c, store.key)) for c in cases)
    done = sum(s in store for c in cases for s in _steps(c, store.key))
    bar = _progress(total=total, initial=done, desc=desc, enabled=progress)
    bar_lock = threading.Lock()

    def run_one(case: Record) -> None:
        out = work(case)
        for record in [out] if isinstance(out, dict) else out:
            if store.append(record):
                with bar_lock:
                    bar.update(1)

    failure: BaseException | None = None
    pending: set[Future[None]] = set()
    queue = iter(todo)
    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            while True:
                while failure is None and len(pending) < workers:
                    case = next(queue, None)
                    if case is None:
                        break
                    pending.add(pool.submit(run_one, case))
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    try:
                        fut.result()
                    except BaseException as e:  # noqa: BLE001 - kept and re-raised once in-flight work settles
                        failure = failure or e
    finally:
        bar.close()
    if failure is not None:
        raise failure
    return len(todo)


def _steps(case: Record, key: str) -> list[Any]:
    """The record ids a case produces: its `"steps"`, or its own id."""
    return list(case["steps"]) if "steps" in case else [case[key]]


class _PlainProgress:
    """A progress line on stderr with an ETA, for when tqdm is not installed (or a silent one:
    `enabled=False`). The rate counts only the cases done in this run, so a resumed run's ETA is honest."""

    def __init__(self, total: int, initial: int, desc: str, enabled: bool = True) -> None:
        self.total, self.n, self.desc, self.enabled = total, initial, desc, enabled
        self.initial, self.started = initial, time.monotonic()

    def line(self) -> str:
        done_now = self.n - self.initial
        if done_now <= 0:
            return f"{self.desc}: {self.n}/{self.total}"
        per_case = (time.monotonic() - self.started) / done_now
        eta = per_case * (self.total - self.n)
        return f"{self.desc}: {self.n}/{self.total}, {per_case:.1f} s/case, ETA {eta / 60:.1f} min"

    def update(self, k: int) -> None:
        self.n += k
        if self.enabled:
            print(f"\r{self.line()}", end="", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.enabled:
            print(file=sys.stderr)


def _progress(total: int, initial: int, desc: str, enabled: bool = True) -> Any:
    if not enabled:
        return _PlainProgress(total, initial, desc, enabled=False)
    try:
        from tqdm import tqdm
    except ImportError:
        return _PlainProgress(total, initial, desc)
    return tqdm(total=total, initial=initial, desc=desc, unit="case", dynamic_ncols=True)


# --- model selection ----------------------------------------------------------------------------------------
def add_model_args(parser: argparse.ArgumentParser, *, max_tokens: int = 1024,
                   output_default: str = "runs/<benchmark>/<model>.jsonl") -> None:
    """The options every benchmark takes to pick a model (the CLI's own, `qwen_agent.llm_options`), a
    concurrency, and where results go.

    Args:
        max_tokens: the default of --max-tokens.
        output_default: how the help describes --output's default.
    """
    add_llm_arguments(parser)
    g = parser.add_argument_group("run")
    g.add_argument("--max-tokens", type=int,
                   help="generation limit per model turn (default: the local checkpoint's generation_config.json "
                   f"max_new_tokens, as the published runs used it, else {max_tokens})")
    parser.set_defaults(fallback_max_tokens=max_tokens)
    g.add_argument("--repetition-penalty", type=_positive_float, metavar="P",
                   help="transformers' repetition penalty (default: the local checkpoint's generation_config.json "
                   "value, as the published runs used it, else none)")
    g.add_argument("--replay", type=Path, nargs="+", metavar="FILE",
                   help="re-score recorded generations from these jsonl files instead of asking a model")
    g.add_argument("--workers", type=int, default=1, help="cases run in parallel (default 1)")
    g.add_argument("--output", type=Path, help=f"results jsonl (default: {output_default}); resumable")
    g.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def make_llm(args: argparse.Namespace) -> LLM:
    """The model the options name, built as the CLI builds it (`qwen_agent.llm_options.llm_from_args`)."""
    return llm_from_args(args)


def generation_lock(args: argparse.Namespace) -> threading.Lock | None:
    """A lock serialising generations when the model is local (one model, one generation at a time); None for
    a server, which takes concurrent requests."""
    return None if resolve_backend(args) == "openai" else threading.Lock()


def generation_config(args: argparse.Namespace, llm: LLM | None = None) -> GenerationConfig:
    """The original's decoding defaults: greedy over the checkpoint's own generation config, as the published
    evaluations ran (`model.generation_config = GenerationConfig.from_pretrained(...)`, then `do_sample =
    False`: Qwen `eval/evaluate_plugin.py`, `load_models_tokenizer`, lines ~150-160), so its `max_new_tokens`
    and `repetition_penalty` apply. `llm` (a local backend) reads them off the loaded checkpoint, a GGUF file
    included; without it, a local --model folder's generation_config.json gives `max_new_tokens`; a server's
    are unknown. --max-tokens and --repetition-penalty override; missing values fall back to the benchmark's
    token limit and no penalty."""
    fallback = getattr(args, "fallback_max_tokens", 1024)
    config = llm.checkpoint_generation_config(greedy=True, fallback_max_tokens=fallback) if llm else None
    if config is None:
        config = GenerationConfig(max_tokens=checkpoint_max_new_tokens(args) or fallback)
    update: dict[str, Any] = {"temperature": 0.0}
    if getattr(args, "max_tokens", None):
        update["max_tokens"] = args.max_tokens
    if getattr(args, "repetition_penalty", None) is not None:
        update["repetition_penalty"] = args.repetition_penalty
    return config.model_copy(update=update)


def checkpoint_max_new_tokens(args: argparse.Namespace) -> int | None:
    """`max_new_tokens` of a local --model folder's generation_config.json, if it has one."""
    path = Path(str(getattr(args, "model", None) or "")) / "generation_config.json"
    if not getattr(args, "model", None) or not path.is_file():
        return None
    try:
        value = json.loads(path.read_text(encoding="utf-8")).get("max_new_tokens")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def run_label(args: argparse.Namespace) -> str:
    """A short name for this run: the replay file's stem or the model's last path component."""
    if getattr(args, "oracle", False):
        return "oracle"
    if getattr(args, "replay", None):
        return f"replay-{Path(args.replay[0]).stem}"
    return Path(str(args.model or "model").rstrip("/")).name or "model"


def read_jsonl(path: str | Path) -> list[Record]:
    """Objects of a jsonl file; blank lines skipped; a bad line is an error naming file and line."""
    if not Path(path).is_file():
        raise ConfigurationError(f"no such data file: {path}")
    with open(path, encoding="utf-8") as f:
        return [_json_line(path, lineno, line) for lineno, line in enumerate(f, 1) if line.strip()]


def _json_line(path: str | Path, lineno: int, line: str) -> Record:
    try:
        value = json.loads(line)
    except ValueError as e:
        raise ConfigurationError(f"{path}:{lineno}: not a JSON line ({e}); fix or move the file") from e
    if not isinstance(value, dict):
        raise ConfigurationError(f"{path}:{lineno}: expected a JSON object")
    return value


# --- reporting ----------------------------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A markdown table; the first column left-aligned, the others centred as in the published READMEs."""
    lines = ["| " + " | ".join(header) + " |", "|:---|" + "|".join(":---:" for _ in header[1:]) + "|"]
    lines += ["| " + " | ".join("-" if v is None else str(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bar_chart(path: str | Path, title: str, metrics: Sequence[str], rows: Sequence[tuple[str, Sequence[float | None]]],
              highlight: str | Sequence[str] | None = None) -> Path:
    """A grouped bar chart: one group per metric, one bar per row (model). `None` values are left out.

    The row named `highlight` (this run; or the rows named, e.g. one per tool-call format) is drawn dark and
    hatched, each with its own hatch, so it stands out from the published rows.
    """
    ours = [highlight] if isinstance(highlight, str) else list(highlight or ())
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    n = max(len(rows), 1)
    width = 0.8 / n
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(metrics) + 0.12 * n * len(metrics)), 4.5))
    palette = plt.get_cmap("tab20").colors
    others = 0
    for i, (name, values) in enumerate(rows):
        xs = [m + (i - (n - 1) / 2) * width for m in range(len(metrics)) if values[m] is not None]
        ys = [v for v in values if v is not None]
        if name in ours:  # this run: dark and hatched, its values written on the bars
            hatch = ("//", "..", "xx", "\\\\")[ours.index(name) % 4]
            bars = ax.bar(xs, ys, width, label=name, color="#303030", hatch=hatch, edgecolor="white")
            ax.bar_label(bars, fmt="%.1f", fontsize=7)
        else:
            ax.bar(xs, ys, width, label=name, color=palette[others % len(palette)])
            others += 1
    ax.set_xticks(range(len(metrics)), [textwrap.fill(m, 16) for m in metrics])  # long names would overlap
    ax.set_title(title)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def write_report(results_path: Path | None, markdown: str, data: Record,
                 chart: Callable[[Path], Path] | None = None, *, json_path: Path | None = None) -> None:
    """Write the JSON summary (`json_path`, default `<results>.json`), the table beside it (`.md`) and, given
    `chart`, the chart (`.png`); print the table and the paths. `results_path`: the per-case file, if any."""
    if json_path is None:
        if results_path is None:
            raise ValueError("write_report needs results_path or json_path")
        json_path = results_path.with_suffix(".json")
    md = json_path.with_suffix(".md")
    md.write_text(markdown + "\n", encoding="utf-8")
    json_path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(markdown)
    print()
    if results_path is not None:
        print(f"results: {results_path}")
    print(f"tables: {md}, {json_path}")
    if chart is not None:
        print(f"chart: {chart(json_path.with_suffix('.png'))}")


def cli_main(parse: Callable[[Sequence[str] | None], argparse.Namespace],
             run: Callable[[argparse.Namespace], Any], argv: Sequence[str] | None) -> int:
    """Parse, run, and turn a qwen_agent error (bad input, model down) into a message and exit status 2."""
    args = parse(argv)
    try:
        run(args)
    except QwenAgentError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def pct(value: float | None, digits: int = 1) -> str | None:
    """A share in [0, 1] as a percentage string, or None when undefined (no cases)."""
    return None if value is None else f"{100 * value:.{digits}f}"
