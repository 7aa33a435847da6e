"""A real OpenAI-compatible server on 127.0.0.1 (the app `qwen-agent serve` runs) whose model is the
rule-based scripted test double `ScriptedPolicyLLM`, in the Hermes tool format; one per test module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from qwen_agent.server import ServerThread, create_app
from tests.integrations.scripted_policy import ScriptedPolicyLLM

POLICY_MODEL = "qwen-scripted-policy"


@dataclass
class PolicyServer:
    server: ServerThread
    policy: ScriptedPolicyLLM

    @property
    def base_url(self) -> str:
        return self.server.base_url


@pytest.fixture(scope="module")
def policy_server() -> Iterator[PolicyServer]:
    policy = ScriptedPolicyLLM()
    with ServerThread(create_app(policy, model_name=POLICY_MODEL, tool_format="hermes")) as server:
        yield PolicyServer(server, policy)
