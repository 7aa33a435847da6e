"""Hostile requests to `qwen-agent mcp-server --transport http` (a real process), each with the exact answer
its MCP SDK transport gives; the connection stays usable after every one."""

from __future__ import annotations

import pytest

from tests.server.rawhttp import RawConnection
from tests.server.test_fuzz import KEY, mcp_http_server

pytest.importorskip("mcp")

H = {"authorization": f"Bearer {KEY}", "content-type": "application/json",
     "accept": "application/json, text/event-stream"}
PING = b'{"jsonrpc": "2.0", "id": 1, "method": "ping"}'


@pytest.fixture(scope="module")
def port():
    with mcp_http_server() as root:
        yield int(root.rsplit(":", 1)[1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "headers", "status", "words"),
    [
        (b"[" * 100_000 + b"]" * 100_000, {}, 400, b"recursion limit exceeded"),
        (b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "' + b"a" * 20_000_000 + b'"}}', {},
         413, b"Request body too large"),
        (b"\xff\xfe", {}, 400, b"Parse error"),
        (PING, {"content-type": "text/plain"}, 400, b"Invalid Content-Type header"),
        (PING, {"accept": "text/html"}, 406, b"Not Acceptable"),
        (PING, {"authorization": "Bearer guess"}, 401, b"missing or wrong API key"),
        (PING, {}, 400, b"Missing session ID"),  # every method but initialize needs a session
    ],
    ids=["100000-levels", "20-mb", "not-utf8", "text-plain", "accept-html", "wrong-key", "no-session"],
)
def test_mcp_http_answers_hostile_requests_with_4xx_on_a_usable_connection(port, body, headers, status, words):
    with RawConnection(port) as conn:
        resp = conn.request("POST", "/mcp", body, {**H, **headers})
        assert resp.status == status and words in resp.body, (resp.status, resp.body[:300])
        assert conn.reusable()
        assert conn.request("POST", "/mcp", PING, H).status == 400  # answered: no session, as above
