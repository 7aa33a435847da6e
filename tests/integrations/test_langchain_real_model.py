"""The tool-calling subset of langchain-tests' integration suite, against the small real Qwen
(Qwen2.5-Coder-0.5B-Instruct GGUF) behind `qwen-agent serve --backend transformers` on 127.0.0.1.

The server process is started once for the module (loading takes ~40 s on a CPU); each test runs one of the
suite's own test methods, so the assertions are LangChain's, not ours. Left out, as this 0.5B model fails
them (measured; there is no constrained decoding): `test_tool_choice`, whose tool_choice "any" among two tools
for "Hello!" starts the turn with `<tool_call>\n`, where the model ends it (0 new tokens); and
`test_tool_calling_with_no_arguments`, where the forced call's arguments came back as something other than an
object. Each generation is capped at 40 new tokens; on a loaded 2-core CPU one test took up to 5 minutes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import openai
import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from qwen_agent.integrations.langchain import ChatQwenAgent
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from tests.conftest import REPO

pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytestmark = [pytest.mark.real_model, pytest.mark.slow, pytest.mark.timeout(900)]

SERVED = "qwen2.5-coder-0.5b"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def real_server(real_qwen_gguf) -> Iterator[str]:
    """`qwen-agent serve` over the real checkpoint; yields its base URL once /v1/models answers."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwen_agent.cli", "serve", "--backend", "transformers", "--model",
         str(real_qwen_gguf), "--served-model-name", SERVED, "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        client = openai.OpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=5)
        deadline = time.monotonic() + 240
        while True:
            try:
                client.models.list()
                break
            except openai.APIConnectionError:
                if proc.poll() is not None:
                    pytest.fail(f"qwen-agent serve exited: {proc.stdout.read().decode(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    pytest.fail("qwen-agent serve did not answer within 240 s")
                time.sleep(0.5)
        yield base_url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class _RealModelSuite(ChatModelIntegrationTests):
    """The suite's configuration for the real model (not collected itself: the tests below pick its methods)."""

    base_url = ""

    @property
    def chat_model_class(self) -> type[ChatQwenAgent]:
        return ChatQwenAgent

    @property
    def chat_model_params(self) -> dict:
        llm = OpenAICompatLLM(SERVED, base_url=self.base_url, max_retries=0, timeout=180)
        return {"llm": llm, "model": SERVED, "tool_format": "server"}

    def build_model(self) -> ChatQwenAgent:
        # 40 new tokens bound each generation's time on a CPU; a call to these tools needs fewer than 30
        return ChatQwenAgent(**{**self.standard_chat_model_params, **self.chat_model_params, "max_tokens": 40})


@pytest.fixture(scope="module")
def suite(real_server: str) -> _RealModelSuite:
    s = _RealModelSuite()
    s.base_url = real_server
    return s


def test_tool_calling(suite: _RealModelSuite):
    """A call to magic_function(3) with tool_choice "any", by invoke and by stream (tool_call_chunks)."""
    suite.test_tool_calling(suite.build_model())



def test_agent_loop(suite: _RealModelSuite):
    """Unforced: the model calls get_weather for San Francisco, then answers from the tool's result."""
    suite.test_agent_loop(suite.build_model())
