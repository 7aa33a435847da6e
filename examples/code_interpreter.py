"""Data analysis in a sandboxed Jupyter kernel: the model writes Python, the code interpreter runs it.

Run: QWEN_AGENT_BASE_URL=http://127.0.0.1:8000/v1 QWEN_AGENT_MODEL=Qwen2.5-7B-Instruct python examples/code_interpreter.py
"""

import tempfile
from pathlib import Path

from qwen_agent import Agent
from qwen_agent.interpreter import KernelPool, SandboxConfig
from qwen_agent.tools.code_interpreter import CodeInterpreter

if __name__ == "__main__":
    data = Path(tempfile.mkdtemp()) / "sales.csv"
    data.write_text("month,sales\nJan,120\nFeb,135\nMar,160\n", encoding="utf-8")
    # A pool starts kernels ahead of time; each tool takes one session and the pool discards it after.
    with KernelPool(size=1, sandbox=SandboxConfig(memory_mb=1024)) as pool, CodeInterpreter(pool=pool) as python:
        name = python.upload(data)  # "sales.csv", relative to the session's work dir
        print(f"sandbox: {python.session.sandbox_description}")
        agent = Agent(tools=[python])  # the model comes from QWEN_AGENT_* environment variables
        print(agent.run(f"{name} holds monthly sales. What is the total? Plot the months as a bar chart."))
