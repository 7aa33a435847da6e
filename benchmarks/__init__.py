"""Benchmark harnesses, run as `python -m benchmarks.<name>`. Outside the package; public API of qwen_agent only."""
