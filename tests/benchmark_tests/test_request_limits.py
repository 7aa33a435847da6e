"""benchmarks.request_limits runs and prints one row per body (timings are not asserted: the CPU is shared)."""

from __future__ import annotations

from benchmarks.perf.request_limits import bodies, main


def test_request_limits_benchmark_prints_a_row_per_body(capsys):
    main(["--repeat", "1"])
    rows = capsys.readouterr().out.splitlines()[1:]
    assert [r[:40].strip() for r in rows] == list(bodies())
    assert all(float(r.split()[-1]) > 0 for r in rows), rows
