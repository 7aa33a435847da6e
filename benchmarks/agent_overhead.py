"""`python -m benchmarks.agent_overhead`: runs `benchmarks.perf.agent_overhead` (the name kept from the flat layout)."""

from benchmarks.perf.agent_overhead import main

if __name__ == "__main__":
    main()
