"""`python -m benchmarks.async_agents`: runs `benchmarks.perf.async_agents` (the name kept from the flat layout)."""

from benchmarks.perf.async_agents import main

if __name__ == "__main__":
    main()
