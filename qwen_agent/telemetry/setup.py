"""An OpenTelemetry SDK tracer provider made from the standard `OTEL_*` variables, for the command line (a
library user sets up their own provider; `telemetry.tracing` then uses it).

Tracing starts when the user asked for it: `OTEL_TRACES_EXPORTER` names an exporter (`otlp`, `console`), or an
OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`). The exporter reads
its own variables (endpoint, `OTEL_EXPORTER_OTLP_HEADERS` for a backend's key), the resource reads
`OTEL_SERVICE_NAME` and `OTEL_RESOURCE_ATTRIBUTES`, the batch processor `OTEL_BSP_*`; `OTEL_SDK_DISABLED=true`
turns it all off. OTLP goes over HTTP/protobuf (`opentelemetry-exporter-otlp-proto-http`, in the `otel` extra).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from qwen_agent.errors import ConfigurationError, MissingDependencyError

DEFAULT_SERVICE = "qwen-agent"


def wants_tracing(env: Mapping[str, str]) -> bool:
    """Whether the variables ask for traces."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def configure_tracing(env: Mapping[str, str]) -> Any | None:
    """Set the global tracer provider the variables describe and return it (call `shutdown()` on it at exit to
    send what is buffered); None when they ask for no traces (nothing is imported then)."""
    if not wants_tracing(env):
        return None
    protocol = env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "http/protobuf"
    if protocol != "http/protobuf":
        raise ConfigurationError(f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol}: qwen-agent exports OTLP over "
                                 "http/protobuf (port 4318 of a collector); set it to http/protobuf")
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
    except ImportError as e:
        raise MissingDependencyError("opentelemetry-sdk", "otel", "Exporting traces") from e
    resource = Resource.create({} if env.get("OTEL_SERVICE_NAME") else {"service.name": DEFAULT_SERVICE})
    provider = TracerProvider(resource=resource)
    for name in (env.get("OTEL_TRACES_EXPORTER") or "otlp").split(","):
        provider.add_span_processor(BatchSpanProcessor(_exporter(name.strip().lower(), ConsoleSpanExporter)))
    trace.set_tracer_provider(provider)
    return provider


def _exporter(name: str, console: Any) -> Any:
    if name == "console":
        return console()
    if name != "otlp":
        raise ConfigurationError(f"OTEL_TRACES_EXPORTER={name}: qwen-agent knows otlp, console and none")
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as e:
        raise MissingDependencyError("opentelemetry-exporter-otlp-proto-http", "otel", "OTLP export") from e
    return OTLPSpanExporter()
