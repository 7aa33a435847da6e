"""`python -m benchmarks.real_tool_use`: runs `benchmarks.tool_use.real_tool_use` (the name kept from the flat layout)."""

from benchmarks.tool_use.real_tool_use import main

if __name__ == "__main__":
    raise SystemExit(main())
