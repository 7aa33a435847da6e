"""A real OpenAI-compatible HTTP server on 127.0.0.1 that replays scripted model text (the one allowed test
double) and records every request, so tests can check the prompt that was sent and the steps taken."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ScriptedOpenAIServer:
    """Serves /v1/chat/completions, /v1/completions and /v1/models on a free loopback port.

    Args:
        responses: model texts replayed in order, one per completion request.
        honor_stop: cut each reply at the first stop string of the request, as vLLM does.
        fail_first: answer this many requests with `fail_status` before replaying (to exercise retries).
        respond: computes each reply from the request body instead of replaying `responses` (concurrent
            clients: the reply must not depend on arrival order).
        hold_until: hold the first requests unanswered until this many are in flight at once (or until
            `hold_timeout` s pass, or `release()`): only clients that overlap get past it quickly.
    """

    def __init__(self, responses: Iterable[str] = (), *, honor_stop: bool = True, fail_first: int = 0,
                 fail_status: int = 503, fail_body: dict[str, Any] | None = None,
                 respond: Callable[[dict[str, Any]], str] | None = None, hold_until: int = 0,
                 hold_timeout: float = 30.0) -> None:
        self.responses = list(responses)
        self.respond = respond
        self.hold_until = hold_until
        self.hold_timeout = hold_timeout
        self.in_flight = 0
        self.peak_in_flight = 0  # the most requests being answered at the same moment
        self._gate = threading.Event()
        if hold_until <= 0:
            self._gate.set()
        self.honor_stop = honor_stop
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.fail_body = fail_body or {"error": {"message": "overloaded", "type": "server_error"}}
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def release(self) -> None:
        """Answer the held requests now."""
        self._gate.set()

    def _enter(self) -> None:
        with self._lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            if self.in_flight >= self.hold_until:
                self._gate.set()
        self._gate.wait(self.hold_timeout)

    def _leave(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def _next(self, body: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            self.requests.append(body)
            if self.fail_first > 0:
                self.fail_first -= 1
                return self.fail_status, self.fail_body
            if self.respond is not None:
                text = self.respond(body)
            elif not self.responses:
                return 500, {"error": {"message": "script exhausted", "type": "server_error"}}
            else:
                text = self.responses.pop(0)
        stops = body.get("stop") or []
        stops = [stops] if isinstance(stops, str) else stops
        finish = "stop"
        if self.honor_stop:
            cuts = [text.find(s) for s in stops if s and s in text]
            if cuts:
                text = text[: min(cuts)]
        return 200, (text, finish)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                return None

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "scripted", "object": "model"}]})
                else:
                    self._json(404, {"error": {"message": "not found"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                body["_path"] = self.path
                server._enter()
                try:
                    self._answer(body)
                except (BrokenPipeError, ConnectionResetError):  # the client went away (cancelled): fine
                    return
                finally:
                    server._leave()

            def _answer(self, body: dict[str, Any]) -> None:
                status, payload = server._next(body)
                if status != 200:
                    self._json(status, payload)
                    return
                text, finish = payload
                chat = self.path.endswith("/chat/completions")
                if body.get("stream"):
                    self._stream(text, finish, chat)
                else:
                    self._json(200, _completion(text, finish, chat))

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, text: str, finish: str, chat: bool) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
                for piece in pieces:
                    self._event(_chunk(piece, None, chat))
                    time.sleep(0.001)
                self._event(_chunk("", finish, chat))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, payload: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

        return Handler


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024  # hundreds of clients connect at once
    daemon_threads = True


def _completion(text: str, finish: str, chat: bool) -> dict[str, Any]:
    usage = {"prompt_tokens": 10, "completion_tokens": len(text), "total_tokens": 10 + len(text)}
    if chat:
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "scripted",
                "choices": [choice], "usage": usage}
    return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "text": text, "finish_reason": finish}], "usage": usage}


def _chunk(text: str, finish: str | None, chat: bool) -> dict[str, Any]:
    if chat:
        delta = {"content": text} if text else {}
        return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 0, "model": "scripted",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": "scripted",
            "choices": [{"index": 0, "text": text, "finish_reason": finish}]}
