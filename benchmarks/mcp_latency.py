"""`python -m benchmarks.mcp_latency`: runs `benchmarks.perf.mcp_latency` (the name kept from the flat layout)."""

from benchmarks.perf.mcp_latency import main

if __name__ == "__main__":
    main()
