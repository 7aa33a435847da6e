"""GET /health: what load balancers and routers (vllm-router, Kubernetes probes) poll; it answers without a key
and tells nothing, while the API itself stays behind the key."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from tests.server.conftest import running


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.read() == b""
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_health_answers_without_the_key_and_the_api_still_needs_it() -> None:
    with running(ScriptedLLM(["hi"]), api_key="secret") as server:
        root = server.base_url.removesuffix("/v1")
        assert _status(root + "/health") == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(root + "/v1/models", timeout=10)
        assert refused.value.code == 401
