"""Who may use a server of ours: the one loopback test and the one bearer-key check of the OpenAI-compatible
server, the web UI and the MCP server, and the one flag that sets that key (`--require-key`)."""

from __future__ import annotations

import argparse
import hmac
import ipaddress


def add_require_key_argument(parser: argparse.ArgumentParser, *aliases: str, what: str) -> None:
    """`--require-key KEY` (dest `require_key`): the key clients of this server must send. Distinct from
    `--api-key`, which is always the key this process sends to a model server (`qwen_agent.llm_options`).

    Args:
        aliases: older names of the flag that still work (e.g. the UI's `--ui-key`).
        what: how clients present the key, for the help text.
    """
    parser.add_argument("--require-key", *aliases, dest="require_key", default=None, metavar="KEY",
                        help=f"require this key from clients ({what})")


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
