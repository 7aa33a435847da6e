"""Benchmark harnesses, run as `python -m benchmarks.<name>`. Outside the package; public API of qwen_agent only.

One subpackage per benchmark family (`code_interpreter`, `hf_agent`, `tool_use`, `perf`); the flat modules
beside them only keep the `python -m benchmarks.<name>` names working."""
