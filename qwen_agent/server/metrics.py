"""The server's `/metrics`: vLLM-named model metrics (`ModelMetrics`), the worker's queue and batch, and HTTP
requests by route and status (counted by an outer ASGI middleware, so refusals made before a route runs, such
as a 401 or a 413, are counted too)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from qwen_agent.server.worker import ModelWorker
from qwen_agent.telemetry.metrics import MetricsRegistry
from qwen_agent.telemetry.model_metrics import ModelMetrics, P

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

#: paths counted under their own name; anything else is "other" (arbitrary 404 paths would grow the series)
ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/models", "/metrics")


class ServerMetrics:
    """Everything one app's `/metrics` shows."""

    def __init__(self, worker: ModelWorker, model_name: str) -> None:
        self.registry = MetricsRegistry()
        self.model_name = model_name
        self.model = ModelMetrics(self.registry)
        key = (model_name,)
        self.registry.gauge(P + "num_requests_running", "Number of requests in model execution batches.",
                            ("model_name",), lambda: {key: worker.running()})
        self.registry.gauge(P + "num_requests_waiting", "Number of requests waiting to be processed.",
                            ("model_name",), lambda: {key: worker.queue_depth()})
        self.http = self.registry.counter(P + "http_requests_total", "HTTP requests answered, by route and status.",
                                          ("handler", "status"))

    def render(self) -> str:
        return self.registry.render()


class CountRequests:
    """ASGI middleware: counts every HTTP response by route and status in `metrics.http`."""

    def __init__(self, app: ASGIApp, *, metrics: ServerMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        handler = path if path in ROUTES else "/v1/models" if path.startswith("/v1/models/") else "other"
        status = 500  # an exception before any response is answered 500 by the server

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, counting_send)
        finally:
            self.metrics.http.inc(handler=handler, status=str(status))
