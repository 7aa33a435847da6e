"""Who may use a server of ours: the one loopback test and the one bearer-key check of the OpenAI-compatible
server, the web UI and the MCP server."""

from __future__ import annotations

import hmac
import ipaddress


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps a server on this machine: `localhost`, or a loopback address (127.0.0.0/8,
    ::1). A name that is not an address is not trusted to be one."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bearer_token(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header value, or None when it carries none."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def key_matches(given: str | None, api_key: str) -> bool:
    """`given` is the key (compared in constant time, so timing tells nothing of it)."""
    return given is not None and hmac.compare_digest(given.encode(), api_key.encode())


def bearer_problem(authorization: str, api_key: str) -> str | None:
    """What is wrong with an `Authorization` header that must carry `Bearer <api_key>`, or None."""
    token = bearer_token(authorization)
    if token is None:
        return "missing API key: send 'Authorization: Bearer <key>'"
    return None if key_matches(token, api_key) else "incorrect API key provided"
