"""The web UI's HTTP side: the page and its assets under /ui/, a small JSON + server-sent-events API under
/ui/api/. Built with FastAPI (the `server` extra); `create_ui_app` returns the ASGI app.

Safety: the agent runs code, so without an access key the app answers only requests addressed to a loopback
name (a DNS-rebinding page cannot reach it) and the command refuses to bind elsewhere; requests that change
anything must carry the `X-Requested-By` header, which a cross-site form cannot send.
"""

from __future__ import annotations

import json
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_agent.access import bearer_token, is_loopback, key_matches
from qwen_agent.agent import Agent
from qwen_agent.conversations import StoreError
from qwen_agent.errors import MissingDependencyError
from qwen_agent.server.request_limits import Refusal, check_json
from qwen_agent.telemetry.metrics import CONTENT_TYPE
from qwen_agent.telemetry.model_metrics import AGENT_METRICS
from qwen_agent.ui.conversation import Busy, Conversation
from qwen_agent.ui.events import FileInfo, is_binary
from qwen_agent.ui.store import Conversations

try:
    from fastapi import FastAPI, Request
    from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
    from fastapi.staticfiles import StaticFiles
    from starlette.convertors import Convertor, register_url_convertor
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise MissingDependencyError("fastapi", "server", "The web UI") from e

STATIC = Path(__file__).parent / "static"
CSRF_HEADER = "x-requested-by"
COOKIE = "qwen_agent_ui_key"


class UIError(Exception):
    """A request the API refuses, with the status and the message the page shows."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class UILimits:
    """What one request may send: a message's characters, an upload's bytes."""

    max_message_chars: int = 100_000
    max_upload_bytes: int = 50 * 1024 * 1024


def create_ui_app(agent: Agent, *, api_key: str | None = None, limits: UILimits | None = None,
                  max_conversations: int = 32, data_dir: str | Path | None = None,
                  max_stored: int = 500, max_stored_bytes: int = 256 * 1024 * 1024) -> FastAPI:
    """The chat UI over `agent` as an ASGI app (page at /ui/).

    Args:
        agent: the template of every conversation's agent: each conversation runs a copy with its own code
            interpreter (own kernel and work dir); the model is shared and used by one run at a time.
        api_key: when set, the API needs it (`Authorization: Bearer`, or the cookie the page's key prompt
            sets) and any Host is served; when None, only loopback Host names are.
        limits: message and upload size limits.
        max_conversations: idle conversations beyond this many have their kernels closed, least recently used
            first (their data stays).
        data_dir: where conversations and their work dirs are kept (`ui.sqlite`, `work/`), to be found again by
            the next app on the same folder; None: a temporary folder, removed when the app stops.
        max_stored, max_stored_bytes: beyond this many stored conversations, or bytes of their messages and
            steps, the oldest idle ones are deleted with their work dirs.
    """
    scratch = None if data_dir is not None else Path(tempfile.mkdtemp(prefix="qwen-agent-ui-"))
    store = Conversations(agent, Path(data_dir) if data_dir is not None else scratch, max_live=max_conversations,
                          max_conversations=max_stored, max_bytes=max_stored_bytes)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)

    app = FastAPI(title="qwen_agent UI", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui_store = store
    lim = limits or UILimits()

    @app.exception_handler(UIError)
    async def ui_error(request: Request, exc: UIError) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status)

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        try:
            _check_request(request, api_key)
        except UIError as e:
            return JSONResponse({"error": e.message}, status_code=e.status)
        return await call_next(request)

    _page_routes(app)
    _api_routes(app, store, agent, lim, api_key)
    return app


def _check_request(request: Request, api_key: str | None) -> None:
    if api_key is None and not is_loopback(_host_name(request.headers.get("host", ""))):
        raise UIError(403, "this UI answers on loopback addresses only; start it with an access key to serve others")
    path = request.url.path
    if not path.startswith("/ui/api/") and path != "/metrics":
        return  # the page and its assets hold nothing secret
    if request.method not in ("GET", "HEAD") and request.headers.get(CSRF_HEADER) != "qwen-agent-ui":
        raise UIError(403, f"missing the {CSRF_HEADER} header (requests from other sites are refused)")
    if api_key is None or path in ("/ui/api/login", "/ui/api/info"):
        return
    given = bearer_token(request.headers.get("authorization", "")) or request.cookies.get(COOKIE)
    if not key_matches(given, api_key):
        raise UIError(401, "this UI needs its access key")


def _host_name(host: str) -> str:
    """The name part of a Host header: `[::1]:8000` -> `[::1]`, `localhost:8000` -> `localhost`."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0]


def _page_routes(app: FastAPI) -> None:
    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:  # guarded like the API: with an access key, only its holders read it
        return Response(AGENT_METRICS.registry.render(), media_type=CONTENT_TYPE)

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")


def _api_routes(app: FastAPI, store: Conversations, agent: Agent, lim: UILimits, api_key: str | None) -> None:
    instance = secrets.token_hex(8)  # a page that sees it change reloads its conversation (event numbers restart)
    moved = store.db.moved_aside
    notice = (f"The conversation store could not be read, so it was moved to {moved} and a fresh one was started."
              if moved else "")

    @app.get("/ui/api/info")
    def info() -> dict[str, Any]:
        return {"model": agent.llm.model_name, "tools": _tool_labels(agent), "keyed": api_key is not None,
                "max_message_chars": lim.max_message_chars, "max_upload_bytes": lim.max_upload_bytes,
                "notice": notice, "instance": instance}

    @app.post("/ui/api/login")
    async def login(request: Request) -> JSONResponse:
        body = await _json(request)
        key = body.get("key") if isinstance(body, dict) else None
        if api_key is None or not isinstance(key, str) or not key_matches(key, api_key):
            raise UIError(401, "wrong access key")
        resp = JSONResponse({"ok": True})
        resp.set_cookie(COOKIE, key, httponly=True, samesite="strict")
        return resp

    @app.post("/ui/api/conversations")
    def new_conversation() -> dict[str, Any]:  # sync: makes a work dir, so off the event loop
        return {"id": store.create().id}

    @app.get("/ui/api/conversations")
    def list_conversations() -> dict[str, Any]:  # sync: reads the store
        return {"conversations": store.list()}

    @app.delete("/ui/api/conversations/{cid}")
    def delete_conversation(cid: str) -> dict[str, Any]:  # sync: stops a run, removes a folder
        if not store.delete(cid):
            raise UIError(404, "unknown conversation")
        return {"deleted": True}

    @app.get("/ui/api/conversations/{cid}/events")
    def events(cid: str, after: int = 0) -> StreamingResponse:  # sync: may read the conversation back
        conv = _conversation(store, cid)
        return StreamingResponse(_sse(conv, max(after, 0)), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @app.post("/ui/api/conversations/{cid}/messages")
    async def send(cid: str, request: Request) -> dict[str, Any]:
        conv = _conversation(store, cid)
        body = await _json(request)
        text = body.get("text") if isinstance(body, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise UIError(400, "send a JSON object with a non-empty 'text'")
        if len(text) > lim.max_message_chars:
            raise UIError(413, f"the message has {len(text):,} characters; the limit is "
                          f"{lim.max_message_chars:,}. Upload long text as a file instead.")
        try:
            return {"first": conv.start(text)}
        except Busy as e:
            raise UIError(409, str(e)) from None

    @app.post("/ui/api/conversations/{cid}/stop")
    async def stop(cid: str) -> dict[str, Any]:
        return {"stopping": _conversation(store, cid).stop()}

    _file_routes(app, store, lim)


class _AnyPath(Convertor[str]):
    """Starlette's `path` convertor stops at a newline (`.*`), while `{name}` takes one: a GET for a name holding
    a newline then matched only the upload route and answered 405. This one matches what `{name}` does and more."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("qwen_agent_any_path", _AnyPath())


def _file_routes(app: FastAPI, store: Conversations, lim: UILimits) -> None:
    @app.put("/ui/api/conversations/{cid}/files/{name}")
    async def upload(cid: str, name: str, request: Request) -> dict[str, Any]:
        conv = _conversation(store, cid)
        if not conv.has_interpreter:
            raise UIError(400, "uploads go to the code interpreter's work dir: start the UI with "
                          "--tool code_interpreter")
        target = conv.work_dir / _safe_name(name)
        info = await _receive(request, target, lim.max_upload_bytes)
        conv.add_upload(info)
        return info.to_json(conv.id)

    @app.get("/ui/api/conversations/{cid}/files/{name:qwen_agent_any_path}")
    async def download(cid: str, name: str) -> FileResponse:
        path = _work_file(_conversation(store, cid), name)
        inline = path.suffix.lower() in {".png", ".jpg", ".jpeg", ".gif", ".webp"}
        headers = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}
        return FileResponse(path, filename=path.name, headers=headers,
                            content_disposition_type="inline" if inline else "attachment")


def _work_file(conv: Conversation, name: str) -> Path:
    """The regular file `name` inside the conversation's work dir, or a 404 (also for names the file system
    cannot take: a NUL byte, a name too long)."""
    root = conv.work_dir.resolve()
    try:
        path = (root / name).resolve()
        found = path.is_relative_to(root) and path.is_file()
    except (OSError, ValueError):
        found = False
    if not found:
        raise UIError(404, f"no file {name[:80]!r} in this conversation's work dir")
    return path


async def _receive(request: Request, target: Path, limit: int) -> FileInfo:
    """Write the request body to `target`; a body over `limit` bytes is refused and nothing is kept."""
    partial = target.with_name(f".{target.name}.part")
    size, head = 0, b""
    try:
        with partial.open("wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise UIError(413, f"{target.name} is over the upload limit of {limit:,} bytes")
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                f.write(chunk)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)
    return FileInfo(target.name, size, is_binary(head))


def _safe_name(name: str) -> str:
    """A file name the work dir can take: no folders, not hidden, printable, at most 200 characters."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not base or base.startswith(".") or len(base) > 200 or not base.isprintable():
        raise UIError(400, f"unusable file name {name[:80]!r}: use a plain name such as data.csv")
    return base


def _tool_labels(agent: Agent) -> list[str]:
    """Names of the agent's tools; a provider not started yet (MCP servers) by its servers' names."""
    labels = []
    for entry in agent.tools.entries():
        servers = getattr(entry, "servers", None)
        name = getattr(entry, "name", None)
        labels.append(name if isinstance(name, str) else f"MCP: {', '.join(servers)}" if servers
                      else type(entry).__name__)
    return labels


def _conversation(store: Conversations, cid: str) -> Conversation:
    try:
        conv = store.get(cid)
    except StoreError as e:
        raise UIError(500, f"this conversation could not be read back: {e}") from None
    if conv is None:
        raise UIError(404, "unknown conversation (it was deleted?)")
    return conv


_MAX_JSON_DEPTH = 64


async def _json(request: Request) -> Any:
    try:
        # the server's strict reader: bounded depth (a 100,000-level `[[[...` must not reach RecursionError)
        return check_json(await request.body(), max_depth=_MAX_JSON_DEPTH)
    except Refusal as e:
        raise UIError(400, e.message) from None


def _sse(conv: Conversation, after: int) -> Iterator[str]:
    for event in conv.follow(after):
        if event is None:
            yield ": keep-alive\n\n"
        else:
            yield f"id: {event['seq']}\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"
    yield "event: end\ndata: {}\n\n"
