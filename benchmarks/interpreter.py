"""`python -m benchmarks.interpreter`: runs `benchmarks.perf.interpreter` (the name kept from the flat layout)."""

from benchmarks.perf.interpreter import main

if __name__ == "__main__":
    raise SystemExit(main())
