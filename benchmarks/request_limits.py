"""`python -m benchmarks.request_limits`: runs `benchmarks.perf.request_limits` (the name kept from the flat layout)."""

from benchmarks.perf.request_limits import main

if __name__ == "__main__":
    main()
