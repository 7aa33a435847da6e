"""examples/mcp_tools.py run as a user would, against a scripted OpenAI-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedOpenAIServer

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.kernel
def test_example_mcp_tools():
    code = "a, b = 0, 1\\nfor _ in range(20):\\n    a, b = b, a + b\\nprint(a)"
    script = [f'<tool_call>\n{{"name": "python", "arguments": {{"code": "{code}"}}}}\n</tool_call>', "6765"]
    env = {**os.environ, "QWEN_AGENT_BASE_URL": "", "QWEN_AGENT_MODEL": "scripted", "PYTHONPATH": str(REPO)}
    with ScriptedOpenAIServer(script) as server:
        env["QWEN_AGENT_BASE_URL"] = server.base_url
        out = subprocess.run([sys.executable, "examples/mcp_tools.py"], cwd=REPO, env=env, capture_output=True,
                             text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "6765"
    assert "<tool_response>\n6765" in server.requests[1]["messages"][-2]["content"]  # the sandbox reached the model
