"""Benchmark harnesses: `python -m benchmarks.<name>`; they use only qwen_agent's public API."""
