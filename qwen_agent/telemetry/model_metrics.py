"""The model's side of `/metrics`, named after vLLM's (`vllm:x` -> `qwen_agent:x`) where the concept is the same,
so a dashboard written for vLLM reads ours with the prefix changed. Prefix-cache counters count tokens, as
vLLM's do: queries = prompt tokens looked up, hits = prompt tokens served from the cache."""

from __future__ import annotations

import time
from collections.abc import Mapping

from qwen_agent.schema import Usage
from qwen_agent.telemetry.metrics import (
    LATENCY_BUCKETS,
    TOOL_BUCKETS,
    TPOT_BUCKETS,
    TTFT_BUCKETS,
    MetricsRegistry,
)

P = "qwen_agent:"


class ModelMetrics:
    """Token counters and latency histograms of one model's requests (or an agent's model turns)."""

    def __init__(self, registry: MetricsRegistry) -> None:
        m = ("model_name",)
        self.prompt_tokens = registry.counter(P + "prompt_tokens_total", "Number of prefill tokens processed.", m)
        self.generation_tokens = registry.counter(P + "generation_tokens_total",
                                                  "Number of generation tokens processed.", m)
        self.prefix_queries = registry.counter(P + "prefix_cache_queries_total",
                                               "Prompt tokens looked up in the prefix cache.", m)
        self.prefix_hits = registry.counter(P + "prefix_cache_hits_total",
                                            "Prompt tokens served from the prefix cache.", m)
        self.success = registry.counter(P + "request_success_total", "Count of successfully processed requests.",
                                        (*m, "finished_reason"))
        self.ttft = registry.histogram(P + "time_to_first_token_seconds", "Histogram of time to first token in "
                                       "seconds (streamed requests only).", m, TTFT_BUCKETS)
        self.tpot = registry.histogram(P + "time_per_output_token_seconds", "Histogram of time per output token "
                                       "in seconds, after the first (streamed requests only).", m, TPOT_BUCKETS)
        self.e2e = registry.histogram(P + "e2e_request_latency_seconds",
                                      "Histogram of end to end request latency in seconds.", m, LATENCY_BUCKETS)

    def record(self, model: str, usage: Usage, finished_reason: str, seconds: float,
               first_token_seconds: float | None = None) -> None:
        """One finished request: its usage, why it ended, its wall time and (streamed) its time to first token."""
        self.prompt_tokens.inc(usage.prompt_tokens, model_name=model)
        self.generation_tokens.inc(usage.completion_tokens, model_name=model)
        self.prefix_queries.inc(usage.prompt_tokens, model_name=model)
        self.prefix_hits.inc(usage.cached_tokens, model_name=model)
        self.success.inc(model_name=model, finished_reason=finished_reason)
        self.e2e.observe(seconds, model_name=model)
        if first_token_seconds is not None:
            self.ttft.observe(first_token_seconds, model_name=model)
            if usage.completion_tokens > 1:
                per_token = (seconds - first_token_seconds) / (usage.completion_tokens - 1)
                self.tpot.observe(per_token, model_name=model)


class ToolMetrics:
    """Tool calls by outcome and their durations."""

    def __init__(self, registry: MetricsRegistry) -> None:
        self.calls = registry.counter(P + "tool_calls_total", "Tool calls run, by tool and outcome (ok or error).",
                                      ("tool", "outcome"))
        self.seconds = registry.histogram(P + "tool_call_duration_seconds", "Histogram of tool call durations in "
                                          "seconds.", ("tool",), TOOL_BUCKETS)

    def record(self, tool: str, is_error: bool, seconds: float) -> None:
        self.calls.inc(tool=tool, outcome="error" if is_error else "ok")
        self.seconds.observe(seconds, tool=tool)


class RequestClock:
    """Times one request from its start: `first_token()` when the first text arrives, `elapsed()` at the end.
    `headers` (the request's) carry a caller's trace context to the server's span."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self.start = time.monotonic()
        self.wall_start_ns = time.time_ns()
        self.first: float | None = None
        self.headers = headers

    def first_token(self) -> None:
        if self.first is None:
            self.first = time.monotonic() - self.start

    def elapsed(self) -> float:
        return time.monotonic() - self.start


class AgentMetrics:
    """What agents in this process did: their model turns (`ModelMetrics`) and tool calls. One per process
    (`AGENT_METRICS`), shown by `qwen-agent ui`'s /metrics; recording costs a few dictionary updates per step."""

    def __init__(self) -> None:
        self.registry = MetricsRegistry()
        self.model = ModelMetrics(self.registry)
        self.tools = ToolMetrics(self.registry)


AGENT_METRICS = AgentMetrics()
