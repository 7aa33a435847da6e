"""The one loopback test and bearer-key check that the server, the web UI and the MCP server share."""

from __future__ import annotations

import pytest

from qwen_agent.access import bearer_problem, bearer_token, is_loopback, key_matches


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("[::1]", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("example.com", False), ("localhost.evil", False),
    ("", False),
])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(("header", "problem"), [
    ("Bearer k3y", None), ("bearer  k3y ", None),
    ("", "missing API key: send 'Authorization: Bearer <key>'"),
    ("Basic k3y", "missing API key: send 'Authorization: Bearer <key>'"),
    ("Bearer ", "missing API key: send 'Authorization: Bearer <key>'"),
    ("Bearer wrong", "incorrect API key provided"),
    ("Bearer k3y2", "incorrect API key provided"),
])
def test_bearer_problem(header: str, problem: str | None) -> None:
    assert bearer_problem(header, "k3y") == problem


def test_token_and_key_helpers() -> None:
    assert bearer_token("Bearer abc") == "abc" and bearer_token("Token abc") is None
    assert key_matches("abc", "abc") and not key_matches(None, "abc") and not key_matches("ab", "abc")
