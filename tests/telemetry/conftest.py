"""An OpenTelemetry SDK provider with the in-memory exporter, set for one test and removed after it (so the
rest of the suite runs untraced, as a user without a provider does)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def reset_tracer_provider() -> None:
    """Forget the global provider (the SDK allows setting it once per process; its own tests reset it so)."""
    from opentelemetry import trace
    from opentelemetry.util._once import Once

    trace._TRACER_PROVIDER = None
    trace._TRACER_PROVIDER_SET_ONCE = Once()


@pytest.fixture
def exporter() -> Iterator[object]:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    memory = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    reset_tracer_provider()
    trace.set_tracer_provider(provider)
    yield memory
    provider.shutdown()
    reset_tracer_provider()
