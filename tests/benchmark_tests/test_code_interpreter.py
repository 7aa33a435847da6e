"""benchmarks/code_interpreter/__init__.py end to end with real sandboxed kernels, a scripted judge server, SIGKILL."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import code_interpreter as ci
from qwen_agent import ScriptedLLM
from tests.conftest import BENCH_DATA
from tests.scripted_server import ScriptedOpenAIServer

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def gsm8k() -> Path:
    return BENCH_DATA / "gsm8k" / "test.jsonl"


def _args(tmp_path: Path, *extra: str):
    return ci.parse_args(["--output", str(tmp_path / "out.jsonl"), *extra])


def test_gsm8k_oracle_subset_scores_100(tmp_path, gsm8k):
    m = ci.run(_args(tmp_path, "--task", "math", "--oracle", "--gsm8k", str(gsm8k), "--limit", "16",
                     "--workers", "2"))["metrics"]
    assert m["math"] == 1.0 and m["counts"]["math"] == 16
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert all(r["executions"][0]["status"] == "ok" and r["gen"].endswith(f"Final Answer: {r['gold']}")
               for r in rows)  # the answer came back through the sandbox's stdout


# All 1,319 oracle programs in one plain Python process inside one sandboxed kernel, each in a fresh namespace:
# seconds instead of the ~10 minutes of 1,319 episodes. The episodes themselves are checked on the subset above;
# the full run is a benchmark command (docs/benchmarks.md) printing 98.9 (1305/1319) and 100.0 with --gold exact.
_CHILD = (
    "import contextlib, io, json\n"
    "out = []\n"
    "for code in json.load(open('codes.json')):\n"
    "    buf = io.StringIO()\n"
    "    with contextlib.redirect_stdout(buf):\n"
    "        exec(code, {})\n"
    "    out.append(buf.getvalue())\n"
    "json.dump(out, open('printed.json', 'w'))\n"
)


@pytest.mark.timeout(900)
def test_all_1319_oracle_programs_print_their_gold_and_score_1305_published_1319_exact(tmp_path, gsm8k):
    from benchmarks.code_interpreter.episode import gold_number, last_number
    from benchmarks.code_interpreter.sources import gsm8k_oracle_code
    from qwen_agent.interpreter import KernelSession, SandboxConfig

    answers = [json.loads(line)["answer"] for line in gsm8k.read_text(encoding="utf-8").splitlines()]
    codes = tmp_path / "codes.json"
    codes.write_text(json.dumps([gsm8k_oracle_code(a) for a in answers]))
    with KernelSession(sandbox=SandboxConfig()) as session:
        session.upload(codes, "codes.json")
        r = session.execute("import subprocess, sys\n"
                            f"r = subprocess.run([sys.executable, '-c', {_CHILD!r}], capture_output=True, text=True)\n"
                            "print(r.returncode, r.stderr[-2000:])", timeout=600)
        assert r.stdout.startswith("0 "), r.stdout
        printed = json.loads((session.work_dir / "printed.json").read_text())
    finals = [f"Thought: done\nFinal Answer: {p.strip().splitlines()[-1]}" for p in printed]
    published = [last_number(f) == gold_number(a) for f, a in zip(finals, answers, strict=True)]
    exact = [last_number(f) == gold_number(a, "exact") for f, a in zip(finals, answers, strict=True)]
    assert sum(exact) == 1319  # every program recomputes the gold number
    # the published gold of 14 answers is the digits before a thousands comma (`#### 2,125` -> 2)
    assert sum(published) == 1305
    assert [i for i, ok in enumerate(published) if not ok] == [146, 201, 230, 249, 505, 610, 611, 640, 642, 819, 829,
                                                               997, 1009, 1206]


def test_sample_tasks_oracle_with_a_judge_scores_100(tmp_path):
    with ScriptedOpenAIServer(["right"] * 12) as judge:  # the vision judge's words are scripted
        m = ci.run(_args(tmp_path, "--task", "visualization", "--oracle", "--judge", judge.base_url,
                         "--judge-model", "vl", "--workers", "2"))["metrics"]
    assert (m["visualization_hard"], m["visualization_easy"]) == (1.0, 1.0)
    assert m["counts"]["visualization_hard"] == 8 and m["counts"]["visualization_easy"] == 4
    assert len(judge.requests) == 12
    texts = {r["messages"][0]["content"][0]["text"]: r for r in judge.requests}
    # the published prompts, verbatim (Qwen-Agent metrics/visualization.py), and no temperature sent
    en = ('Please judge whether the image is consistent with the [Question] below, if it is consistent then reply '
          '"right", if not then reply "wrong".\n[Question]: Draw a line chart of the monthly revenue of the North '
          'region.\n')
    zh = "请判断图片是否与下面的[问题]一致，如果一致则回复“right”，不一致则回复“wrong”。\n[问题]：根据文件画出每个地区全年总收入的柱状图。\n"
    assert en in texts and zh in texts
    assert all("temperature" not in r for r in judge.requests)
    content = texts[en]["messages"][0]["content"]
    assert texts[en]["model"] == "vl" and len(texts[en]["messages"]) == 1
    png = base64.b64decode(content[1]["image_url"]["url"].split(",", 1)[1])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    g = ci.run(ci.parse_args(["--output", str(tmp_path / "g.jsonl"), "--task", "general", "--oracle"]))
    assert g["metrics"]["general"] == 1.0 and g["metrics"]["counts"]["general"] == 10


def _code(code: str) -> str:
    return f"Thought: code\nAction: code_interpreter\nAction Input:\n```py\n{code}\n```\n"


def test_planted_mistakes_score_the_numbers_computed_by_hand(tmp_path, gsm8k):
    data = tmp_path / "tasks.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": f"v{i}", "query": f"plot {i}", "tags": "visualization", "lang": "en"} for i in range(4)] + [
        {"id": f"g{i}", "query": f"task {i}", "tags": "general", "lang": "en"} for i in range(4)]))
    turns = {
        # GSM8K question 0 (gold 18): right, wrong number, right without code, failing code (stops there).
        "math:0": [_code("print(9*2)"), " I know\nFinal Answer: 18"],
        "math:1": [_code("print(1)"), " I know\nFinal Answer: 4"],  # gold of question 1 is 3
        "math:2": ["Thought: easy\nFinal Answer: 70000"],  # gold of question 2 is 70000
        "math:3": [_code("raise ValueError('no')"), " never asked\nFinal Answer: 540"],
        # visualization (hard): judged right; judged wrong; code error, no image; runs but draws nothing.
        "visualization:v0": [_code("import matplotlib.pyplot as plt\nplt.plot([1, 2])\nplt.show()"), " done"],
        "visualization:v1": [_code("import matplotlib.pyplot as plt\nplt.bar([1], [2])\nplt.show()"), " done"],
        "visualization:v2": [_code("plt.plot(undefined)")],
        "visualization:v3": [_code("print('no plot')"), " done"],
        # general: runs; raises; no code at all; runs.
        "general:g0": [_code("print(1)")], "general:g1": [_code("1/0")], "general:g2": ["Final Answer: cannot"],
        "general:g3": [_code("x = [i * i for i in range(5)]\nx")],
    }
    replay = tmp_path / "recorded.jsonl"
    replay.write_text("".join(json.dumps({"id": k, "turns": v}) + "\n" for k, v in turns.items()))
    with ScriptedOpenAIServer(["right", "Wrong."]) as judge:
        data_out = ci.run(_args(tmp_path, "--task", "all", "--gsm8k", str(gsm8k), "--limit", "4", "--data",
                                str(data), "--replay", str(replay), "--judge", judge.base_url))
    m = data_out["metrics"]
    assert m["math"] == pytest.approx(2 / 4)  # math:0 and math:2 right
    assert m["visualization_hard"] == pytest.approx(1 / 4) and m["visualization_easy"] is None  # only v0
    assert m["general"] == pytest.approx(2 / 4)  # g0 and g3 ran; g1 raised; g2 wrote no code
    assert len(judge.requests) == 2  # only the two clean figures were shown to the judge
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out.jsonl").read_text().splitlines())}
    assert len(rows["math:3"]["executions"]) == 1 and rows["math:3"]["executions"][0]["status"] == "error"
    assert "never asked" not in rows["math:3"]["gen"]  # an execution error ends the episode
    assert rows["general:g2"]["missing_code"] is True
    assert "| **replay-recorded** (this run) | 50.0 | 25.0 | - | 50.0 |" in (tmp_path / "out.md").read_text()


def test_live_model_sees_the_react_prompt_files_and_observations(tmp_path):
    data = tmp_path / "tasks.jsonl"
    row = json.loads((ci.DATA_DIR / "tasks.jsonl").read_text(encoding="utf-8").splitlines()[8])  # vis09, easy
    row["input_file_path"] = [str(ci.DATA_DIR / "files" / "students.csv")]
    data.write_text(json.dumps(row, ensure_ascii=False) + "\n", encoding="utf-8")
    llm = ScriptedLLM([" plot it\nAction: code_interpreter\nAction Input:\n```py\nprint(len(rows))\n```\n"
                       "Observation: made up", " I now know the final answer\nFinal Answer: done"])
    ci.run(_args(tmp_path, "--task", "visualization", "--data", str(data), "--model", "scripted"), llm=llm)
    (first, stop), (second, _) = llm.calls
    assert [m.role for m in first] == ["system", "user", "assistant"] and "Observation:" in stop
    assert first[1].content.endswith("Question: [Upload file students.csv]Draw a box plot of the english scores "
                                     "of each class.")
    # item 6: the given first round ran in the kernel (its `rows` exist) but, as published, its output is not
    # shown: the model continues right after the given Action Input (our older rule appended an Observation)
    assert "Observation:" not in first[2].content and first[2].content.rstrip().endswith("```")
    # 12 rows loaded by the given code; the published layout keeps print's newline inside the fence
    assert second[2].content.endswith("Observation: stdout:\n\n```\n12\n\n```\nThought:")
    record = json.loads((tmp_path / "out.jsonl").read_text())
    assert record["level"] == "easy" and record["right"] is False  # no figure drawn


def _kill_orphan_kernels(parent_pid: int) -> None:
    """Kernels whose launcher names `parent_pid` (started by the killed run): end them by pid."""
    marker = f'"parent": {parent_pid},'
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if marker in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def test_sigkill_halfway_then_rerun_loses_nothing_and_duplicates_nothing(tmp_path, gsm8k):
    out = tmp_path / "run.jsonl"
    cmd = [sys.executable, "-m", "benchmarks.code_interpreter", "--task", "math", "--oracle", "--gsm8k", str(gsm8k),
           "--limit", "24", "--workers", "2", "--output", str(out)]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (not out.exists() or out.read_text().count("\n") < 6):
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
        _kill_orphan_kernels(proc.pid)
    done_before = out.read_text().count("\n")
    assert 6 <= done_before < 24, "the kill must land halfway"
    with open(out, "a") as f:
        f.write('{"id": "math:23", "task": "math", "gen": "torn')  # a line cut mid-write
    rerun = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines()]
    assert len(ids) == 24 and sorted(ids) == sorted(f"math:{i}" for i in range(24))
    assert "| **oracle** (this run) | 100.0 |" in out.with_suffix(".md").read_text()


def test_command_line_against_an_openai_compatible_server(tmp_path):
    data = tmp_path / "tasks.jsonl"
    data.write_text(json.dumps({"id": "g", "query": "Print 6*7.", "tags": "general", "lang": "en"}) + "\n")
    with ScriptedOpenAIServer([_code("print(6*7)") + "Observation: 41", " I know\nFinal Answer: 42"]) as server:
        code = ci.main(["--task", "general", "--data", str(data), "--model", "qwen", "--base-url",
                        server.base_url, "--output", str(tmp_path / "o.jsonl")])
    assert code == 0
    assert len(server.requests) == 1  # general allows one execution, so the model is not asked again
    first = server.requests[0]
    assert [m["role"] for m in first["messages"]] == ["system", "user"] and "Observation:" in first["stop"]
    record = json.loads((tmp_path / "o.jsonl").read_text())
    assert record["executable"] is True and record["executions"][0]["observation"] == "stdout:\n\n```\n42\n\n```"
    assert record["gen"].endswith("Observation: stdout:\n\n```\n42\n\n```\nThought:")  # not the model's made-up 41
