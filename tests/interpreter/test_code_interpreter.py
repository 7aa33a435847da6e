"""The code_interpreter tool over a real kernel session."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_agent.errors import ToolArgumentError
from qwen_agent.interpreter import KernelPool
from qwen_agent.tools import load_builtin
from qwen_agent.tools.code_interpreter import CodeInterpreter

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def tool():
    with load_builtin("code_interpreter", timeout=10, max_output_chars=500) as t:
        yield t


def test_json_raw_and_fenced_inputs_share_state(tool: CodeInterpreter):
    assert tool.call('{"code": "x = 20"}') == "(no output)"
    assert tool.call("x += 1\nprint(x)") == "21"
    assert tool.call("Now:\n```py\nd = {'x': x}\nd\n```") == "{'x': 21}"
    assert tool.call({"code": "x * 2"}) == "42"


def test_errors_and_timeouts_become_observations(tool: CodeInterpreter):
    text = tool.call("1 / 0")
    assert "ZeroDivisionError" in text and "\x1b[" not in text
    tool.timeout = 1.0
    try:
        text = tool.call("import time\ntime.sleep(100)")
    finally:
        tool.timeout = 10
    assert "1 s timeout" in text and "interrupted" in text


def test_long_output_is_cut_with_a_note(tool: CodeInterpreter):
    text = tool.call("for i in range(2000):\n    print(f'row {i}')")
    assert text.startswith("row 0\n") and text.endswith("row 1999")
    assert "characters omitted" in text and len(text) < 700


def test_plot_gives_image_markdown_and_upload_gives_relative_path(tool: CodeInterpreter, tmp_path: Path):
    src = tmp_path / "nums.txt"
    src.write_text("1\n2\n3\n")
    rel = tool.upload(src)
    assert rel == "nums.txt"
    text = tool.call(f"import matplotlib.pyplot as plt\nv = [int(s) for s in open({rel!r})]\n"
                     "plt.bar(range(3), v)\nplt.title('数量')\nplt.show()")
    assert text == "![fig-1](figures/fig-1.png)"
    assert (tool.session.work_dir / "figures" / "fig-1.png").is_file()


def test_bad_arguments_raise_tool_argument_error(tool: CodeInterpreter):
    with pytest.raises(ToolArgumentError):
        tool.call('{"script": "print(1)"}')


def test_tool_takes_sessions_from_a_pool():
    with KernelPool(size=1) as pool:
        tool = CodeInterpreter(pool=pool)
        assert tool.call("print('from pool')") == "from pool"
        work_dir = tool.session.work_dir
        tool.close()
        assert not work_dir.exists()  # the pool discarded it
        tool.close()  # idempotent


def test_agent_runs_code_through_the_tool(tool: CodeInterpreter):
    from qwen_agent import Agent, ScriptedLLM

    llm = ScriptedLLM([
        "Thought: compute it\nAction: code_interpreter\nAction Input: ```py\nimport math\nprint(math.factorial(10))\n```",
        "Thought: and fail once\nAction: code_interpreter\nAction Input: {\"code\": \"undefined_name\"}",
        "Thought: I now know the final answer\nFinal Answer: 3628800",
    ])
    result = Agent(llm=llm, tools=[tool], tool_format="react").run_result("What is 10!?")
    observations = [s.observation for s in result.steps if s.kind == "observation"]
    assert observations[0] == "3628800"
    assert "NameError" in observations[1]
    assert result.finished and result.answer == "3628800"
    assert "Observation: 3628800" in str(llm.calls[1])  # the model saw the kernel's output
