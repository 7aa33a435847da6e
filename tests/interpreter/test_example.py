"""examples/code_interpreter.py, run as a user would against a scripted OpenAI-compatible server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.scripted_server import ScriptedOpenAIServer

pytestmark = pytest.mark.kernel
REPO = Path(__file__).resolve().parents[2]


def test_example_code_interpreter() -> None:
    code = ("import csv\\nrows = list(csv.DictReader(open('sales.csv')))\\n"
            "print(sum(int(r['sales']) for r in rows))\\n"
            "import matplotlib.pyplot as plt\\nplt.bar([r['month'] for r in rows], [int(r['sales']) for r in rows])\\n"
            "plt.show()")
    script = [f'<tool_call>\n{{"name": "code_interpreter", "arguments": {{"code": "{code}"}}}}\n</tool_call>',
              "The total is 415."]
    with ScriptedOpenAIServer(script) as server:
        env = {**os.environ, "QWEN_AGENT_BASE_URL": server.base_url, "QWEN_AGENT_MODEL": "scripted",
               "PYTHONPATH": str(REPO)}
        out = subprocess.run([sys.executable, "examples/code_interpreter.py"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "The total is 415."
    observation = server.requests[1]["messages"][-2]["content"]  # then the question again
    assert "415" in observation and "![fig-1](figures/fig-1.png)" in observation
