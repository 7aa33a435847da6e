"""The load benchmark runs end to end (small settings): server subprocess, concurrent streams, exact check."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks.perf.server_load import main, make_replies, run_load
from tests.scripted_server import ScriptedOpenAIServer


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
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| qwen-agent serve")]
    assert [r.split("|")[2].strip() for r in rows] == ["1", "3"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert 0 < int(cells[2]) <= 18 and cells[-1] == "0"  # tokens of 3 requests of at most 6; no errors


def test_requests_spread_over_several_base_urls():
    """Repeated --base-url: request i goes to engine i mod n, each reply still checked exactly."""
    replies = make_replies(6, 5)

    def respond(body):
        return replies[int(body["messages"][-1]["content"].split()[1])]

    with ScriptedOpenAIServer(respond=respond) as a, ScriptedOpenAIServer(respond=respond) as b:
        out, _ = asyncio.run(run_load([a.base_url, b.base_url], "none", "scripted", replies, 6, 3, 30, 60))
        assert out.ok == 6 and out.errors == []
        assert sorted(r["messages"][-1]["content"] for r in a.requests) == ["request 0", "request 2", "request 4"]
        assert sorted(r["messages"][-1]["content"] for r in b.requests) == ["request 1", "request 3", "request 5"]
