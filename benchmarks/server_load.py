"""`python -m benchmarks.server_load`: runs `benchmarks.perf.server_load` (the name kept from the flat layout)."""

from benchmarks.perf.server_load import main

if __name__ == "__main__":
    raise SystemExit(main())
