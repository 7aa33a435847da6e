"""An HTTP/1.1 client on one socket, driven by h11, for tests that must see exactly what a server does with a
connection: whether a second request on it is answered, whether it says `Connection: close` and then closes,
and how it treats bodies sent in pieces, slowly, chunked or too large."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from dataclasses import dataclass
from typing import Any

import h11


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def error(self) -> dict[str, Any]:
        """The OpenAI error object, checked to have exactly OpenAI's four fields."""
        assert self.headers.get("content-type") == "application/json", self.headers
        err = self.json()["error"]
        assert set(err) == {"message", "type", "param", "code"}, err
        return err


class RawConnection:
    """One keep-alive connection to 127.0.0.1:`port`."""

    def __init__(self, port: int, timeout: float = 20.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.host = f"127.0.0.1:{port}"
        self.conn = h11.Connection(h11.CLIENT)

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def start(self, method: str, path: str, headers: dict[str, str] | None = None) -> None:
        """Send the request head; without Content-Length in `headers` the body goes chunked."""
        head = {"host": self.host, **{k.lower(): v for k, v in (headers or {}).items()}}
        if method in ("POST", "PUT", "PATCH") and "content-length" not in head:
            head["transfer-encoding"] = "chunked"
        self._send(h11.Request(method=method, target=path, headers=list(head.items())))

    def send(self, data: bytes) -> None:
        """Send part of the body (ignoring a server that has stopped reading)."""
        with contextlib.suppress(OSError):
            self._send(h11.Data(data=data))

    def end(self) -> None:
        self._send(h11.EndOfMessage())

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> RawResponse:
        """A whole request with Content-Length, and its response."""
        self.start(method, path, {"content-length": str(len(body)), **(headers or {})})
        if body:
            self.send(body)
        self.end()
        return self.response()

    def response(self) -> RawResponse:
        """Read one whole response."""
        head, chunks = None, []
        while True:
            event = self.conn.next_event()
            if event is h11.NEED_DATA:
                self.conn.receive_data(self.sock.recv(65536))
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise ConnectionError("the server closed the connection before a whole response")
        assert head is not None
        headers = {k.decode().lower(): v.decode() for k, v in head.headers}
        return RawResponse(head.status_code, headers, b"".join(chunks))

    def reusable(self) -> bool:
        """After a response: whether both sides may go on with another request on this connection."""
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
            return True
        return False

    def closed_by_server(self, within: float = 5.0) -> bool:
        """Whether the server closes its end (recv returns EOF) within `within` seconds."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if self.sock.recv(65536) == b"":
                    return True
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
        return False

    def _send(self, event: Any) -> None:
        data = self.conn.send(event)
        if data:
            self.sock.sendall(data)
