"""benchmarks/_harness.py: the resumable result store, the worker pool and the report helpers."""

from __future__ import annotations

import argparse
import json
import threading
import time

import pytest

from benchmarks import _harness as h
from qwen_agent.errors import ConfigurationError


def test_store_appends_one_line_per_case_and_reloads(tmp_path):
    path = tmp_path / "out" / "r.jsonl"
    with h.ResultStore(path) as store:
        store.append({"id": "a", "v": 1})
        store.append({"id": "b", "v": "北京"})
        store.append({"id": "a", "v": 99})  # already finished: ignored, never duplicated
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["id"] for x in lines] == ["a", "b"]
    assert "北京" in lines[1]  # stored readable, not \u-escaped
    with h.ResultStore(path) as again:
        assert len(again) == 2 and "a" in again and again.records["a"]["v"] == 1


def test_store_cuts_a_torn_last_line_and_keeps_appending_cleanly(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b"}\n{"id": "c", "v": [1, 2', encoding="utf-8")
    with h.ResultStore(path) as store:
        assert store.dropped_tail is True
        assert sorted(store.records) == ["a", "b"]
        store.append({"id": "c", "v": 3})
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c"] and rows[2]["v"] == 3


def test_store_rejects_a_broken_line_in_the_middle(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "b"}\n', encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"r.jsonl:2"):
        h.ResultStore(path)
    assert path.read_text() == '{"id": "a"}\nnot json\n{"id": "b"}\n'  # nothing lost


def test_store_refuses_a_second_concurrent_run(tmp_path):
    path = tmp_path / "r.jsonl"
    with h.ResultStore(path), pytest.raises(ConfigurationError, match="in use"):
        h.ResultStore(path)
    with h.ResultStore(path):  # released on close
        pass


def test_run_cases_skips_finished_cases_and_runs_in_parallel(tmp_path):
    cases = [{"id": str(i)} for i in range(8)]
    seen: list[str] = []
    active, peak = [0], [0]
    lock = threading.Lock()

    def work(case):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
            seen.append(case["id"])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return {"id": case["id"], "double": 2 * int(case["id"])}

    with h.ResultStore(tmp_path / "r.jsonl") as store:
        store.append({"id": "3", "double": 6})
        ran = h.run_cases(cases, work, store, workers=3)
        assert ran == 7 and "3" not in seen and len(store) == 8
    assert peak[0] > 1  # more than one case was in flight at once


def test_run_cases_stores_finished_work_then_raises_the_first_error(tmp_path):
    cases = [{"id": str(i)} for i in range(6)]

    def work(case):
        if case["id"] == "2":
            raise RuntimeError("server down")
        return {"id": case["id"]}

    with h.ResultStore(tmp_path / "r.jsonl") as store:
        with pytest.raises(RuntimeError, match="server down"):
            h.run_cases(cases, work, store, workers=1)
        assert sorted(store.records) == ["0", "1"]  # stopped starting new cases after the failure
    with pytest.raises(ConfigurationError):
        h.run_cases(cases, work, h.ResultStore(tmp_path / "other.jsonl"), workers=0)


def test_a_case_of_steps_stores_each_step_as_it_finishes_and_resumes_mid_case(tmp_path):
    cases = [{"id": "c1", "steps": ["c1/0", "c1/1", "c1/2"]}, {"id": "c2", "steps": ["c2/0"]}]
    calls: list[tuple[str, list[str]]] = []

    def work(case, fail_at=None):
        calls.append((case["id"], sorted(store.records)))
        for step in case["steps"]:
            if step == fail_at:
                raise RuntimeError("model down")
            yield {"id": step, "seen_before": step in store}

    with h.ResultStore(tmp_path / "r.jsonl") as store:
        with pytest.raises(RuntimeError, match="model down"):
            h.run_cases(cases, lambda c: work(c, fail_at="c1/2"), store, progress=False)
        assert sorted(store.records) == ["c1/0", "c1/1"]  # the steps before the failure were kept
    calls.clear()
    with h.ResultStore(tmp_path / "r.jsonl") as store:
        assert h.run_cases(cases, work, store, progress=False) == 2  # c1 (unfinished) and c2
        assert calls[0] == ("c1", ["c1/0", "c1/1"])  # resumed with the finished steps in view
        assert h.run_cases(cases, work, store, progress=False) == 0  # all steps stored: nothing runs
    rows = [json.loads(x) for x in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["c1/0", "c1/1", "c1/2", "c2/0"]  # a re-yielded step is not written twice
    assert [r["seen_before"] for r in rows] == [False, False, False, False]


def test_a_store_without_a_path_keeps_records_in_memory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with h.ResultStore(None) as store:
        assert store.append({"id": "a"}) is True and store.append({"id": "a"}) is False
        assert "a" in store and store.path is None
    assert list(tmp_path.iterdir()) == []


def test_model_options_name_a_backend_or_get_a_clear_error():
    def args(*argv):
        parser = argparse.ArgumentParser()
        h.add_model_args(parser)
        return parser.parse_args(argv)

    with pytest.raises(ConfigurationError, match="--backend transformers needs --model"):
        h.make_llm(args())
    with pytest.raises(ConfigurationError, match="--base-url applies to --backend openai, not transformers"):
        h.make_llm(args("--model", "qwen", "--backend", "transformers", "--base-url", "http://127.0.0.1:1/v1"))
    assert h.generation_lock(args("--model", "qwen", "--base-url", "http://127.0.0.1:1/v1")) is None
    assert h.generation_lock(args("--model", "/models/qwen")) is not None  # local: one generation at a time


def test_markdown_table_and_chart(tmp_path):
    table = h.markdown_table(["Model", "A", "B"], [["x", "1.0", None]])
    assert table.splitlines() == ["| Model | A | B |", "|:---|:---:|:---:|", "| x | 1.0 | - |"]
    png = h.bar_chart(tmp_path / "c.png", "t", ["A", "B"], [("run", [50.0, None]), ("pub", [40.0, 30.0])],
                      highlight="run")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
