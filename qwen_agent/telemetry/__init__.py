"""What an episode or a server spent, for people and for monitoring systems.

- `metrics`: counters, gauges and histograms rendered in the Prometheus text format (`/metrics` of
  `qwen-agent serve` and `qwen-agent ui`); no dependency.
- `tracing`: OpenTelemetry spans for episodes, model turns and tool calls (GenAI semantic conventions), active
  only when `opentelemetry` is imported and a tracer provider is set; nothing is imported otherwise.
- `setup`: configures an OpenTelemetry SDK provider from the standard `OTEL_*` variables (the CLI calls it).
- `timings`: an episode's turns, tokens and seconds in the model and in tools, from its steps.
"""
