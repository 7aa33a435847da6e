"""The small real Qwen (Qwen2.5-Coder-0.5B-Instruct, GGUF) in the default format: its chat template renders the
tools (Hermes), it calls the code interpreter, and answers with the kernel's result. Greedy decoding, so the
episode is the same on every run; a few minutes on 2 CPU cores."""

from __future__ import annotations

import pytest

from qwen_agent import Agent
from qwen_agent.formats.template import ChatTemplateFormat
from qwen_agent.llm import get_llm
from qwen_agent.tools import load_builtin

pytestmark = [pytest.mark.real_model, pytest.mark.slow, pytest.mark.kernel, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def real_llm(real_qwen_gguf):
    llm = get_llm("transformers", model=str(real_qwen_gguf))  # the CPU default (bf16 where native), as the CLI
    yield llm
    llm.close()


def test_auto_format_is_hermes_rendered_by_the_checkpoints_template(real_llm):
    agent = Agent(real_llm, [])
    fmt = agent.planner.format_for(real_llm)
    assert isinstance(fmt, ChatTemplateFormat) and fmt.inner.name == "hermes"


def test_code_interpreter_episode_answers_2_pow_100(real_llm):
    # The README's main command: default generation settings and the CLI's 8 steps (the 0.5B model repeats its
    # call once before it answers, so a tighter budget cuts the episode short).
    with Agent(real_llm, [load_builtin("code_interpreter")], max_steps=8) as agent:
        result = agent.run_result("What is 2**100? Use Python.")
    calls = [c for s in result.steps if s.kind == "turn" for c in s.message.tool_calls or []]
    assert calls and calls[0].name == "code_interpreter"
    observations = [s.observation for s in result.steps if s.kind == "observation"]
    assert str(2**100) in observations[0]
    assert result.finished and str(2**100) in result.answer.replace(",", "")
