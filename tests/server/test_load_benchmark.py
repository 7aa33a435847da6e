"""The load benchmark runs end to end (small settings): server subprocess, concurrent streams, exact check."""

from __future__ import annotations

import pytest

from benchmarks.server_load import main, make_replies


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
