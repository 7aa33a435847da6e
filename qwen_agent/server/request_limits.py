"""What the server accepts at the HTTP level, enforced before a route sees the request.

`RequestLimitsMiddleware` wraps an ASGI app (`app.add_middleware(RequestLimitsMiddleware, limits=...)`) and,
for every HTTP request:

- refuses a request framed by both Content-Length and Transfer-Encoding (400, then closes);
- with `api_key`, refuses a body from a client without the key before reading it (401);
- reads the body under a size limit (`Content-Length` over it is refused before reading; a chunked body is
  counted as it arrives) and a deadline, answering 413 or 408; past `max_buffered_bytes` of bodies held by
  all requests in progress together, answers 503 with `Retry-After` (many large bodies at once would
  otherwise exhaust memory);
- with `json_api=True`, requires `Content-Type: application/json` on POST/PUT/PATCH (415: a browser can send
  `text/plain` or form bodies cross-site without a preflight, so this is what keeps a web page from driving a
  local server) and strict JSON: UTF-8, nesting at most `max_json_depth` deep, no duplicate keys, no
  NaN/Infinity, no lone surrogates (400);
- turns an exception that escaped the app into a logged 500, so the keep-alive connection stays usable.

Refusals use OpenAI's error shape. A refused body is read and discarded (up to `drain_bytes`) before the
answer, so the client gets it on a connection it can keep using; past that the answer says `Connection: close`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from qwen_agent.access import bearer_problem

logger = logging.getLogger("qwen_agent.server")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_MAX_REQUEST_BYTES = 8 * 1024 * 1024
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Limits:
    """What a request may be.

    Args:
        max_request_bytes: largest request body (413 past it).
        max_json_depth: deepest nesting of arrays and objects in a JSON body (400 past it).
        body_timeout: seconds from the first read to the end of the body (408 past it).
        drain_bytes: how much of a refused body is read and discarded so the answer reaches the client on a
            connection it can reuse; a larger one is answered with `Connection: close` at once.
        max_buffered_bytes: most bytes of request bodies held at once by all requests in progress.
    """

    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_json_depth: int = 64
    body_timeout: float = 60.0
    drain_bytes: int = 64 * 1024 * 1024
    max_buffered_bytes: int = 256 * 1024 * 1024

    def __post_init__(self) -> None:
        if min(self.max_request_bytes, self.max_json_depth, self.max_buffered_bytes) < 1 or self.body_timeout <= 0:
            raise ValueError(f"limits must be positive: {self}")


class Refusal(Exception):
    """A request refused before the app saw it: an HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, *, code: str | None = None, drain: bool = True,
                 headers: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.drain = status, message, code, drain
        self.headers = headers or []

    def body(self) -> dict[str, Any]:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": None, "code": self.code}}


class _ClientGone(Exception):
    pass


class RequestLimitsMiddleware:
    """ASGI middleware enforcing `Limits` (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, limits: Limits | None = None, json_api: bool = True,
                 api_key: str | None = None) -> None:
        self.app = app
        self.limits = limits or Limits()
        self.json_api = json_api
        self.api_key = api_key
        self.buffered = 0  #: bytes of request bodies held by the requests in progress

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reader = _BodyReader(scope, receive, self.limits, self)
        try:
            _check_framing(scope)
            if self.api_key is not None and scope.get("method") in _BODY_METHODS:
                _check_key(scope, self.api_key)
            if self.json_api:
                _check_content_type(scope)
            body = await reader.read()
            if self.json_api and body:
                check_json(body, self.limits.max_json_depth)
        except _ClientGone:
            return
        except Refusal as r:
            reader.release()
            drained = r.drain and await reader.drain()
            await send_error(send, r.status, r.body(), close=not drained, headers=r.headers)
            return
        try:
            await self._run_app(scope, reader.replay(body), send)
        finally:
            reader.release()

    async def _run_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            logger.error("unhandled error in %s %s", scope.get("method"), scope.get("path"), exc_info=exc)
            if started:  # a response is half sent: only closing the connection can end it
                raise
            body = Refusal(500, f"internal error: {type(exc).__name__}: {exc}").body()
            await send_error(send, 500, body, close=False)


async def send_error(send: Send, status: int, body: dict[str, Any], *, close: bool,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send a whole JSON error response; `close` adds `Connection: close`."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
               *(headers or [])]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class _BodyReader:
    """Reads one request body under the size limit and the deadline, and drains what is left of a refused one."""

    def __init__(self, scope: Scope, receive: Receive, limits: Limits, holder: RequestLimitsMiddleware) -> None:
        self.receive = receive
        self.limits = limits
        self.holder = holder  # keeps the count of bytes held by all requests
        self.held = 0
        headers = dict(scope.get("headers") or [])
        self.declared = _content_length(headers.get(b"content-length"))
        self.expects_continue = headers.get(b"expect", b"").lower() == b"100-continue"
        self.received = 0
        self.complete = False
        self.deadline = time.monotonic() + limits.body_timeout

    async def read(self) -> bytes:
        limit = self.limits.max_request_bytes
        if self.declared is not None and self.declared > limit:
            raise _too_large(limit, f"Content-Length is {self.declared}")
        chunks: list[bytes] = []
        while not self.complete:
            chunk = await self._next()
            if self.received > limit:
                raise _too_large(limit, f"more than {limit} bytes were sent")
            self._hold(len(chunk))
            chunks.append(chunk)
        return b"".join(chunks)

    def _hold(self, n: int) -> None:
        if self.holder.buffered + n > self.limits.max_buffered_bytes:
            raise Refusal(503, "the server is reading too many request bodies at once; retry shortly",
                          code="server_busy", headers=[(b"retry-after", b"1")])
        self.holder.buffered += n
        self.held += n

    def release(self) -> None:
        """Stop counting this request's body among those held."""
        self.holder.buffered -= self.held
        self.held = 0

    async def drain(self) -> bool:
        """Read and discard the rest of the body; True when it was all read (the connection can be reused)."""
        if self.expects_continue and self.received == 0:
            return False  # the client waits for our word before sending: it gets the answer instead
        budget = self.limits.max_request_bytes + self.limits.drain_bytes
        if self.declared is not None and self.declared > budget:
            return False
        try:
            while not self.complete and self.received <= budget:
                await self._next()
        except (_ClientGone, Refusal):
            return False
        return self.complete

    async def _next(self) -> bytes:
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise asyncio.TimeoutError
            message = await asyncio.wait_for(self.receive(), remaining)
        except asyncio.TimeoutError:
            raise Refusal(408, f"the request body was not received within {self.limits.body_timeout:g} s",
                          code="request_timeout", drain=False) from None
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk = message.get("body", b"")
        self.received += len(chunk)
        self.complete = not message.get("more_body", False)
        return chunk

    def replay(self, body: bytes) -> Receive:
        """A receive callable that gives the app the body read here, then the client's own events
        (a disconnect, which streaming responses watch for)."""
        sent = False

        async def receive() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await self.receive()

        return receive


def _too_large(limit: int, what: str) -> Refusal:
    return Refusal(413, f"the request body is too large: {what}; this server accepts at most {limit} bytes "
                        "(qwen-agent serve --max-request-bytes)", code="request_too_large")


def _content_length(value: bytes | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:  # the HTTP server refuses such a request before we see it; count the bytes instead
        return None


def _check_framing(scope: Scope) -> None:
    names = {name for name, _ in scope.get("headers") or []}
    if b"content-length" in names and b"transfer-encoding" in names:
        # RFC 9112 6.3: a request framed both ways may be read differently by a proxy in front (request
        # smuggling); refuse it and close the connection, as the RFC requires.
        raise Refusal(400, "the request has both Content-Length and Transfer-Encoding", drain=False)


def _check_key(scope: Scope, api_key: str) -> None:
    # before the body is read: a client without the key gets no memory or parsing time out of the server
    header = dict(scope.get("headers") or []).get(b"authorization", b"").decode("latin-1")
    problem = bearer_problem(header, api_key)
    if problem:
        raise Refusal(401, problem, code="invalid_api_key")


def _check_content_type(scope: Scope) -> None:
    if scope.get("method") not in _BODY_METHODS:
        return
    raw = dict(scope.get("headers") or []).get(b"content-type", b"")
    media = raw.decode("latin-1").split(";", 1)[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    got = f"got {media!r}" if media else "none was sent"
    raise Refusal(415, f"the request body must be sent as 'Content-Type: application/json' ({got})",
                  code="unsupported_media_type")


# --- prompt size ---------------------------------------------------------------------------------------------
MAX_CHARS_PER_TOKEN = 32  # Qwen's longest token is 128 bytes of whitespace; real text averages 2 to 8 chars


def cap_token_counter(count: Callable[[str], int], window: int) -> Callable[[str], int]:
    """`count`, except that text longer than `window` * MAX_CHARS_PER_TOKEN characters is not tokenized: it
    cannot fit, and tokenizing it is slow (8 MB took a transformers tokenizer 14 s, on the event loop). Such
    text counts as len(text) // MAX_CHARS_PER_TOKEN + 1 tokens, a lower bound that is already over `window`."""

    def capped(text: str) -> int:
        if len(text) > window * MAX_CHARS_PER_TOKEN:
            return len(text) // MAX_CHARS_PER_TOKEN + 1
        return count(text)

    return capped


# --- strict JSON --------------------------------------------------------------------------------------------
def check_json(body: bytes, max_depth: int) -> Any:
    """`body` decoded as strict JSON, or a 400 `Refusal` saying what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Refusal(400, f"the request body is not valid JSON: it is not UTF-8 ({e})") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise _too_deep(max_depth) from None
    except ValueError as e:
        raise Refusal(400, f"the request body is not valid JSON: {e}") from None
    if _depth_exceeds(value, max_depth):
        raise _too_deep(max_depth)
    if _SURROGATE_ESCAPE.search(body) and _has_lone_surrogate(value):
        raise Refusal(400, "the request body is not valid JSON: a \\u escape encodes a lone UTF-16 surrogate")
    return value


def _too_deep(max_depth: int) -> Refusal:
    return Refusal(400, f"the request body is not valid JSON: arrays and objects nest deeper than {max_depth}",
                   code="json_too_deep")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        dup = next(k for k, _ in pairs if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise ValueError(f"duplicate key {dup!r} in an object")
    return obj


def _depth_exceeds(value: Any, max_depth: int) -> bool:
    """Whether arrays/objects nest deeper than `max_depth` (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _has_lone_surrogate(value: Any) -> bool:
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            if _SURROGATE.search(node):
                return True
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
