"""Requests a hostile or broken client sends, each with the exact answer expected: a 4xx in OpenAI's error shape
(or the served reply, where the input is odd but legal), on a connection that stays usable or is closed
cleanly after `Connection: close`; and the server keeps serving."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import h11
import httpx
import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.server import ServerThread, create_app
from qwen_agent.server.request_limits import Limits
from tests.server.conftest import MODEL
from tests.server.rawhttp import RawConnection

JSON = {"content-type": "application/json"}
CHAT = "/v1/chat/completions"


def _chat(content: object = "Hi", **extra: object) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": content}]}
    return json.dumps({**body, **extra}).encode()


@pytest.fixture(scope="module")
def server():
    """Default limits (8 MiB bodies, depth 64) except a 1 s body deadline, replying "ok" forever."""
    app = create_app(ScriptedLLM(["ok"], cycle=True), model_name=MODEL, limits=Limits(body_timeout=1.0))
    with ServerThread(app) as running:
        yield running


def _served(conn: RawConnection) -> None:
    """The connection is still usable: a normal request on it gets the scripted reply."""
    assert conn.reusable()
    resp = conn.request("POST", CHAT, _chat(), JSON)
    assert resp.status == 200, resp.body
    assert resp.json()["choices"][0]["message"]["content"] == "ok"


def _error(resp, status: int, code: str | None, words: str) -> dict:
    assert resp.status == status, resp.body
    err = resp.error
    assert (err["type"], err["code"]) == ("invalid_request_error", code), err
    assert words in err["message"], err["message"]
    return err


# --- JSON nesting -------------------------------------------------------------------------------------------
def test_100000_levels_of_arrays_are_400_and_the_connection_stays_usable(server):
    # Before the limits middleware: 500 RecursionError, then "connection reset by peer" on the next request.
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, b"[" * 100_000 + b"]" * 100_000, JSON)
        _error(resp, 400, "json_too_deep", "nest deeper than 64")
        _served(conn)


def _nested_content(depth: int) -> bytes:
    # body {1} > messages [2] > message {3} > content: objects 4 .. depth
    inner = "1"
    for _ in range(depth - 3):
        inner = '{"a": ' + inner + "}"
    return ('{"model": "' + MODEL + '", "messages": [{"role": "user", "content": ' + inner + "}]}").encode()


def test_nesting_in_a_message_is_checked_at_exactly_64_levels(server):
    with RawConnection(server.port) as conn:
        # 64 levels: legal JSON here, so the app answers it: an object is not a valid content
        _error(conn.request("POST", CHAT, _nested_content(64), JSON), 400, None, "content must be a string")
        assert conn.reusable()
        _error(conn.request("POST", CHAT, _nested_content(65), JSON), 400, "json_too_deep", "deeper than 64")
        _served(conn)


def test_deep_but_legal_tool_schema_is_served(server):
    params: dict = {"type": "string"}
    for _ in range(28):  # body 1, tools 2, tool 3, function 4, parameters 5, then 2 levels per step: 61
        params = {"type": "object", "properties": {"a": params}}
    tool = {"type": "function", "function": {"name": "f", "parameters": params}}
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, _chat(tools=[tool]), JSON)
        assert resp.status == 200, resp.body
        assert resp.json()["choices"][0]["message"]["content"] == "ok"


def test_brackets_inside_a_string_are_text_not_nesting(server):
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, _chat("[" * 100_000 + "{" * 100_000), JSON)
        assert resp.status == 200 and resp.json()["choices"][0]["message"]["content"] == "ok"


# --- body size ----------------------------------------------------------------------------------------------
def test_20_mb_body_with_content_length_is_413_and_the_connection_stays_usable(server):
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, _chat("x" * 20_000_000), JSON)
        err = _error(resp, 413, "request_too_large", f"at most {8 * 1024 * 1024} bytes")
        assert "--max-request-bytes" in err["message"] and "connection" not in resp.headers
        _served(conn)


@pytest.fixture(scope="module")
def small_server():
    app = create_app(ScriptedLLM(["ok"], cycle=True), model_name=MODEL,
                     limits=Limits(max_request_bytes=100_000, drain_bytes=1_000_000, body_timeout=5.0))
    with ServerThread(app) as running:
        yield running


def test_chunked_body_over_the_limit_is_413_while_it_is_read(small_server):
    with RawConnection(small_server.port) as conn:
        conn.start("POST", CHAT, JSON)  # no Content-Length: chunked
        body = _chat("y" * 300_000)
        for i in range(0, len(body), 10_000):
            conn.send(body[i:i + 10_000])
        conn.end()
        err = _error(conn.response(), 413, "request_too_large", "more than 100000 bytes were sent")
        assert "at most 100000 bytes" in err["message"]
        _served(conn)


def test_chunked_body_under_the_limit_is_served(small_server):
    with RawConnection(small_server.port) as conn:
        conn.start("POST", CHAT, JSON)
        for piece in (b'{"model": "', MODEL.encode(), b'", "messages": [{"role": "user", "content": "hi"}]}'):
            conn.send(piece)
        conn.end()
        assert conn.response().json()["choices"][0]["message"]["content"] == "ok"


@pytest.mark.parametrize("expect", [False, True])
def test_declared_gigabyte_is_refused_before_reading_and_the_connection_closed(small_server, expect):
    headers = {**JSON, "content-length": str(10**9)}
    if expect:
        headers["expect"] = "100-continue"
    with RawConnection(small_server.port) as conn:
        conn.start("POST", CHAT, headers)
        conn.send(b'{"model": ')  # a client not waiting for 100-continue sends on; its body is not drained
        resp = conn.response()
        _error(resp, 413, "request_too_large", "Content-Length is 1000000000")
        assert resp.headers["connection"] == "close"
        assert conn.closed_by_server()
    with RawConnection(small_server.port) as fresh:  # the server goes on serving
        assert fresh.request("POST", CHAT, _chat(), JSON).status == 200


def test_bodies_held_at_once_are_bounded_503_then_served_once_room_is_back():
    limits = Limits(max_request_bytes=100_000, max_buffered_bytes=150_000, body_timeout=20.0)
    app = create_app(ScriptedLLM(["ok"], cycle=True), model_name=MODEL, limits=limits)
    body = _chat("z" * 90_000)
    with ServerThread(app) as running, RawConnection(running.port) as a, RawConnection(running.port) as b:
        a.start("POST", CHAT, {**JSON, "content-length": str(len(body))})
        a.send(body[:-10])  # 90 KB held while a finishes its body
        time.sleep(0.5)
        resp = b.request("POST", CHAT, body, JSON)  # another 90 KB would make 180 KB > 150 KB
        err = resp.error
        assert resp.status == 503 and resp.headers["retry-after"] == "1", resp.body
        assert (err["type"], err["code"]) == ("server_error", "server_busy")
        a.send(body[-10:])
        a.end()
        assert a.response().status == 200
        assert b.reusable()  # a's body was let go with its answer: b now fits
        assert b.request("POST", CHAT, body, JSON).status == 200


# --- slow bodies --------------------------------------------------------------------------------------------
def test_body_that_stalls_past_the_deadline_is_408_and_closed(server):
    with RawConnection(server.port) as conn:
        body = _chat()
        conn.start("POST", CHAT, {**JSON, "content-length": str(len(body))})
        conn.send(body[:10])
        started = time.monotonic()
        resp = conn.response()
        waited = time.monotonic() - started
        _error(resp, 408, "request_timeout", "not received within 1 s")
        assert 0.8 < waited < 5, waited
        assert resp.headers["connection"] == "close" and conn.closed_by_server()


def test_slow_body_that_arrives_within_the_deadline_is_served(server):
    with RawConnection(server.port) as conn:
        body = _chat()
        conn.start("POST", CHAT, {**JSON, "content-length": str(len(body))})
        for i in range(0, len(body), len(body) // 4 + 1):
            conn.send(body[i:i + len(body) // 4 + 1])
            time.sleep(0.1)
        assert conn.response().json()["choices"][0]["message"]["content"] == "ok"


# --- encodings and JSON dialects -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (_chat("@@").replace(b"@@", b"\xff\xfe"), "not UTF-8"),
        (_chat("\ud800"), "lone UTF-16 surrogate"),
        (_chat().replace(b'"messages"', b'"model": "x", "messages"'), "duplicate key 'model'"),
        (_chat(temperature=0.5).replace(b"0.5", b"NaN"), "NaN is not a JSON value"),
        (_chat(temperature=0.5).replace(b"0.5", b"-Infinity"), "-Infinity is not a JSON value"),
        (b'\xef\xbb\xbf' + _chat(), "not valid JSON"),
        (b"", "not valid JSON"),
        (b'{"model": "x"} trailing', "Extra data"),
    ],
    ids=["invalid-utf8", "lone-surrogate", "duplicate-key", "nan", "infinity", "bom", "empty", "trailing"],
)
def test_malformed_json_is_400_and_the_connection_stays_usable(server, body, words):
    with RawConnection(server.port) as conn:
        err = _error(conn.request("POST", CHAT, body, JSON), 400, None, words)
        assert err["message"].startswith("the request body is not valid JSON")
        _served(conn)


def test_surrogate_pair_escapes_are_legal(server):
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, _chat("smile \ud83d\ude00"), JSON)  # json.dumps writes the pair
        assert b"\\ud83d\\ude00" in _chat("smile \ud83d\ude00") and resp.status == 200


@pytest.mark.parametrize(
    ("content_type", "status"),
    [(None, 415), ("text/plain", 415), ("application/x-www-form-urlencoded", 415),
     ("multipart/form-data; boundary=x", 415), ("application/json; charset=utf-8", 200), ("APPLICATION/JSON", 200),
     ("application/vnd.api+json", 200)],
)
def test_content_type_must_be_json(server, content_type, status):
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, _chat(), {"content-type": content_type} if content_type else {})
        if status == 415:
            _error(resp, 415, "unsupported_media_type", "must be sent as 'Content-Type: application/json'")
            _served(conn)
        else:
            assert resp.status == 200, resp.body


def test_get_needs_no_content_type(server):
    with RawConnection(server.port) as conn:
        assert conn.request("GET", "/v1/models").json()["data"][0]["id"] == MODEL
        assert conn.reusable()
        _error(conn.request("PUT", "/v1/models", b"{}", JSON), 405, None, "Method Not Allowed")


# --- the server's own failures --------------------------------------------------------------------------------
def test_unexpected_exception_is_a_logged_500_on_a_usable_connection(caplog):
    def broken_counter(text: str) -> int:
        raise RuntimeError("tokenizer exploded")

    app = create_app(ScriptedLLM(["ok"], cycle=True), model_name=MODEL, count_tokens=broken_counter)
    with ServerThread(app) as running, RawConnection(running.port) as conn, \
            caplog.at_level(logging.ERROR, logger="qwen_agent.server"):
        resp = conn.request("POST", CHAT, _chat(), JSON)
        assert resp.status == 500
        assert resp.error["type"] == "server_error"
        assert resp.error["message"] == "internal error: RuntimeError: tokenizer exploded"
        assert conn.reusable()
        assert conn.request("GET", "/v1/models").status == 200
    logged = [r for r in caplog.records if r.name == "qwen_agent.server" and r.exc_info]
    assert len(logged) == 1 and "POST /v1/chat/completions" in logged[0].getMessage()
    assert isinstance(logged[0].exc_info[1], RuntimeError)


def test_backend_failures_are_logged_also_mid_stream(caplog):
    llm = ScriptedLLM(["only reply"])  # a second call raises ModelError: out of responses
    with ServerThread(create_app(llm, model_name=MODEL)) as running, RawConnection(running.port) as conn, \
            caplog.at_level(logging.ERROR, logger="qwen_agent.server"):
        assert conn.request("POST", CHAT, _chat(), JSON).status == 200
        assert conn.reusable()
        resp = conn.request("POST", CHAT, _chat(), JSON)
        assert resp.status == 500 and resp.error["type"] == "server_error"
        assert resp.error["message"].startswith("the model backend failed: ScriptedLLM ran out of responses")
        assert conn.reusable()
        streamed = conn.request("POST", CHAT, _chat(stream=True), JSON)
        assert streamed.status == 200  # the stream had started: the error comes in-band, then [DONE]
        events = [line[6:] for line in streamed.body.decode().splitlines() if line.startswith("data: ")]
        assert "ran out of responses" in json.loads(events[-2])["error"]["message"] and events[-1] == "[DONE]"
    logged = [r for r in caplog.records if r.name == "qwen_agent.server"]
    assert len(logged) == 2 and all("ran out of responses" in r.getMessage() and r.exc_info for r in logged)


# --- many clients ---------------------------------------------------------------------------------------------
def test_128_concurrent_streams_each_get_their_whole_reply():
    replies = [f"reply {i}: " + " ".join(f"w{i}.{j}" for j in range(30)) for i in range(128)]
    llm = ScriptedLLM(replies, chunk_size=4)
    with ServerThread(create_app(llm, model_name=MODEL)) as running:
        async def one(client: httpx.AsyncClient, i: int) -> tuple[str, str]:
            body = {"model": MODEL, "messages": [{"role": "user", "content": f"q{i}"}], "stream": True}
            text = []
            async with client.stream("POST", running.base_url + "/chat/completions", json=body) as resp:
                assert resp.status_code == 200
                async for line in resp.aiter_lines():
                    if line.startswith("data: {"):
                        text.append(json.loads(line[6:])["choices"][0]["delta"].get("content") or "")
            return f"q{i}", "".join(text)

        async def all_streams() -> list[tuple[str, str]]:
            limits = httpx.Limits(max_connections=128)
            async with httpx.AsyncClient(timeout=60, limits=limits) as client:
                return await asyncio.gather(*(one(client, i) for i in range(128)))

        got = dict(asyncio.run(all_streams()))
    # the k-th model call replays replies[k]: each client got the reply generated for its own prompt
    asked = [prompt[-1].content for prompt, _ in llm.calls]
    assert len(asked) == 128 and all(got[q] == replies[k] for k, q in enumerate(asked))


def test_seed_beyond_64_bits_is_400(server):
    # torch.manual_seed takes a signed 64-bit seed; a larger one used to fail inside the local backend (500)
    with RawConnection(server.port) as conn:
        err = _error(conn.request("POST", CHAT, _chat(seed=2**64, temperature=1), JSON), 400, None, "seed")
        assert err["param"] == "seed"
        _served(conn)


# --- HTTP framing ---------------------------------------------------------------------------------------------
def test_content_length_with_transfer_encoding_is_400_and_closed(server):
    # both framings: a proxy in front may read another request boundary (request smuggling), so RFC 9112
    # has the server close the connection after answering
    body = b'{"model": "qwen-scripted"}'
    with RawConnection(server.port) as conn:
        conn.sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n"
                          % (len(body), body))
        conn.conn = h11.Connection(h11.CLIENT)  # read the answer to what was sent by hand
        conn.conn.send(h11.Request(method="GET", target="/", headers=[("host", "x")]))
        resp = conn.response()
        _error(resp, 400, None, "both Content-Length and Transfer-Encoding")
        assert resp.headers["connection"] == "close" and conn.closed_by_server()


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}",
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n",
        b"\x00\x01\x02 hello\r\n\r\n",
    ],
    ids=["bad-content-length", "bad-chunk-size", "200kb-header", "not-http"],
)
def test_unparseable_http_is_400_and_closed_by_uvicorn(server, raw):
    # these never reach the app, so the answer is uvicorn's plain-text one, not OpenAI's JSON
    with RawConnection(server.port) as conn:
        conn.sock.sendall(raw)
        head = conn.sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n") and b"onnection: close" in head, head
        assert conn.closed_by_server()
    with RawConnection(server.port) as fresh:
        assert fresh.request("GET", "/v1/models").status == 200


# --- work per request -----------------------------------------------------------------------------------------
def _tools(n: int) -> list[dict]:
    return [{"type": "function", "function": {"name": f"t{i}", "parameters": {"type": "object"}}} for i in range(n)]


@pytest.mark.parametrize(
    ("extra", "status", "param", "words"),
    [
        ({"stop": [f"s{i}" for i in range(16)]}, 200, None, None),
        ({"stop": [f"s{i}" for i in range(17)]}, 400, "stop.str", "at most 16 items"),
        ({"tools": _tools(128)}, 200, None, None),
        ({"tools": _tools(129)}, 400, "tools", "at most 128 items"),
        ({"functions": [t["function"] for t in _tools(129)]}, 400, "functions", "at most 128 items"),
        ({"messages": [{"role": "user", "content": "x"}] * 10_000}, 200, None, None),
        ({"messages": [{"role": "user", "content": "x"}] * 10_001}, 400, "messages", "at most 10000 items"),
    ],
    ids=["16-stops", "17-stops", "128-tools", "129-tools", "129-functions", "10000-messages", "10001-messages"],
)
def test_stop_strings_and_tools_are_bounded(server, extra, status, param, words):
    # every stop string is matched against every chunk, every tool's schema checked and rendered: 10,000 of
    # either took the server a minute; OpenAI itself allows 4 stop strings and 128 tools
    with RawConnection(server.port) as conn:
        resp = conn.request("POST", CHAT, _chat(**extra), JSON)
        if status == 200:
            assert resp.status == 200, resp.body
        else:
            assert _error(resp, 400, None, words)["param"] == param


def test_a_client_without_the_key_gets_401_before_its_body_is_read():
    app = create_app(ScriptedLLM(["ok"], cycle=True), model_name=MODEL, api_key="K",
                     limits=Limits(max_request_bytes=1000))
    with ServerThread(app) as running, RawConnection(running.port) as conn:
        # over the size limit and not JSON: the missing key is what it hears about
        err = _error(conn.request("POST", CHAT, b"x" * 5000, {"content-type": "text/plain"}), 401,
                     "invalid_api_key", "missing API key")
        assert err["param"] is None and conn.reusable()
        wrong = conn.request("POST", CHAT, _chat(), {**JSON, "authorization": "Bearer guess"})
        _error(wrong, 401, "invalid_api_key", "incorrect API key provided")
        assert conn.reusable()
        ok = conn.request("POST", CHAT, _chat(), {**JSON, "authorization": "Bearer K"})
        assert ok.json()["choices"][0]["message"]["content"] == "ok"


def test_middleware_on_a_non_json_app_checks_sizes_only():
    from qwen_agent.server.request_limits import RequestLimitsMiddleware

    async def echo_length(scope, receive, send):  # an ASGI app that answers how many body bytes it got
        if scope["type"] != "http":
            return
        message = await receive()
        text = str(len(message["body"])).encode()
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(text))]})
        await send({"type": "http.response.body", "body": text})

    app = RequestLimitsMiddleware(echo_length, limits=Limits(max_request_bytes=1000), json_api=False)
    with ServerThread(app) as running, RawConnection(running.port) as conn:
        assert conn.request("POST", "/", b"[" * 1000, {"content-type": "text/plain"}).body == b"1000"
        assert conn.reusable()
        _error(conn.request("POST", "/", b"x" * 1001), 413, "request_too_large", "at most 1000 bytes")
        assert conn.reusable() and conn.request("GET", "/").body == b"0"


def test_pipelined_requests_after_a_refused_one_are_answered_in_order(server):
    # three requests sent at once before any answer: the refused body must be read to its end, or its bytes
    # would be taken for the next request
    bad = b"x" * 50_000
    good = _chat()
    raw = b"".join([
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s"
        % (len(bad), bad),
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(good), good),
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n",
    ])
    with RawConnection(server.port) as conn:
        conn.sock.sendall(raw)
        statuses = []
        for method, target in (("POST", CHAT), ("POST", CHAT), ("GET", "/v1/models")):
            conn.conn.send(h11.Request(method=method, target=target, headers=[("host", "x"), ("content-length", "0")]))
            conn.conn.send(h11.EndOfMessage())  # bookkeeping only: the bytes went out above
            statuses.append(conn.response().status)
            assert conn.reusable()
        assert statuses == [415, 200, 200]
