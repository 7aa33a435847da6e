"""`python -m benchmarks.throughput`: runs `benchmarks.perf.throughput` (the name kept from the flat layout)."""

from benchmarks.perf.throughput import main

if __name__ == "__main__":
    main()
