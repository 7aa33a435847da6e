"""Serving the app: in the foreground (`serve`, what `qwen-agent serve` calls) or on a background thread
(`ServerThread`, for tests, notebooks and benchmarks; port 0 picks a free port)."""

from __future__ import annotations

import threading
import time
from typing import Any

from qwen_agent.errors import MissingDependencyError

try:
    import uvicorn
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("uvicorn", "server", "The OpenAI-compatible server") from e


def serve(app: Any, *, host: str = "127.0.0.1", port: int = 8000, log_level: str = "info") -> None:
    """Serve `app` until interrupted (Ctrl-C)."""
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)


class ServerThread:
    """Runs an ASGI app with uvicorn on a daemon thread.

    Use as a context manager: `with ServerThread(create_app(llm)) as server: OpenAI(base_url=server.base_url)`.
    """

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        config = uvicorn.Config(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=2,
                                lifespan="on")
        self.app = app
        self.host = host
        self.port = port
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, name="qwen-agent-server", daemon=True)

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start serving; returns once the socket is bound. Raises RuntimeError if it is not within `timeout`."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the server on {self.host}:{self.port} exited while starting (port in use?)")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the server did not start within {timeout} s")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = sockets[0].getsockname()[1]
        return self

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. http://127.0.0.1:51234/v1."""
        return f"http://{self.host}:{self.port}/v1"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the server to exit and wait for its thread (at most `timeout` seconds)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)

    def __enter__(self) -> ServerThread:
        return self.start() if not self._thread.is_alive() else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
