"""The Prometheus text exposition written by hand (values worked out by hand), its refusals, and which OTEL_*
settings turn tracing on."""

from __future__ import annotations

import pytest

from qwen_agent.errors import ConfigurationError
from qwen_agent.telemetry.metrics import MetricsRegistry
from qwen_agent.telemetry.setup import configure_tracing, wants_tracing


def test_counter_gauge_and_histogram_text() -> None:
    r = MetricsRegistry()
    c = r.counter("x:requests_total", "Requests.\nSecond line.", ("status",))
    c.inc(status="200")
    c.inc(2, status="200")
    c.inc(status='4"0\\4\n')
    r.gauge("x:waiting", "Waiting.", ("model_name",), lambda: {("m",): 3})
    h = r.histogram("x:latency_seconds", "Latency.", ("model_name",), buckets=(0.1, 1.0))
    for v in (0.05, 0.1, 0.5, 7.0):
        h.observe(v, model_name="m")
    assert r.render() == (
        "# HELP x:requests_total Requests.\\nSecond line.\n"
        "# TYPE x:requests_total counter\n"
        "x:requests_total{status=\"200\"} 3\n"
        "x:requests_total{status=\"4\\\"0\\\\4\\n\"} 1\n"
        "# HELP x:waiting Waiting.\n"
        "# TYPE x:waiting gauge\n"
        "x:waiting{model_name=\"m\"} 3\n"
        "# HELP x:latency_seconds Latency.\n"
        "# TYPE x:latency_seconds histogram\n"
        "x:latency_seconds_bucket{model_name=\"m\",le=\"0.1\"} 2\n"  # 0.1 itself falls in le=0.1
        "x:latency_seconds_bucket{model_name=\"m\",le=\"1\"} 3\n"
        "x:latency_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 4\n"
        "x:latency_seconds_sum{model_name=\"m\"} 7.65\n"
        "x:latency_seconds_count{model_name=\"m\"} 4\n")


def test_refusals() -> None:
    r = MetricsRegistry()
    c = r.counter("x:total", "X.", ("status",))
    with pytest.raises(ValueError, match="cannot go down"):
        c.inc(-1, status="200")
    with pytest.raises(ValueError, match=r"takes the labels \('status',\), got \('code',\)"):
        c.inc(code="200")
    with pytest.raises(ValueError, match="already registered"):
        r.counter("x:total", "again")
    assert c.value(status="200") == 0  # nothing was counted by the refused calls


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, True),
    ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
    ({"OTEL_TRACES_EXPORTER": "console"}, True),
    ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, False),
    ({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}, False),
])
def test_which_settings_ask_for_traces(env, on) -> None:
    assert wants_tracing(env) is on


def test_grpc_is_refused_with_what_to_set() -> None:
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ConfigurationError, match="set it to http/protobuf"):
        configure_tracing(env)
