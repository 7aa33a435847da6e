"""The load benchmark runs end to end (small settings): server subprocess, concurrent streams, exact check."""

from __future__ import annotations

import pytest

from benchmarks.perf.server_load import main, make_replies


def test_replies_are_distinct_and_self_identifying():
    replies = make_replies(12, 5)
    assert len(set(replies)) == 12
    assert all(r.startswith(f"R{i:04d}: ") for i, r in enumerate(replies))


@pytest.mark.slow
def test_load_benchmark_small_run_is_clean(capsys):
    assert main(["--requests", "6", "--baseline", "2", "--words", "30", "--deadline", "60"]) == 0
    out = capsys.readouterr().out
    assert "6/6 complete and exact, 0 corrupted, 0 failed" in out
    assert "ratio concurrent/sequential throughput" in out


@pytest.mark.slow
def test_real_model_mode_serves_a_checkpoint_at_each_concurrency(tiny_qwen2_dir, capsys):
    """`--model PATH` (here the tiny random checkpoint): one pass per client count, same requests."""
    pytest.importorskip("transformers")
    assert main(["--model", str(tiny_qwen2_dir), "--requests", "3", "--max-tokens", "6", "--clients", "1,3"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert [r.split("|")[1].strip() for r in rows] == ["1", "3"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert 0 < int(cells[1]) <= 18 and cells[-1] == "0"  # tokens of 3 requests of at most 6; no errors
