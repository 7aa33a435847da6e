"""`python -m benchmarks.make_tool_use_sample`: runs `benchmarks.tool_use.make_sample` (the name kept from the flat layout)."""

from benchmarks.tool_use.make_sample import main

if __name__ == "__main__":
    main()
