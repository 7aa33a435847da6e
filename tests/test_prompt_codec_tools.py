"""The local backend hands tools, assistant tool calls and tool results to the checkpoint's own chat template
(Qwen2.5's, shipped in tests/data), and "auto" reads the template to choose the format."""

from __future__ import annotations

from pathlib import Path

import pytest

from qwen_agent.formats.template import ChatTemplateFormat
from qwen_agent.function_calling import build_request
from qwen_agent.llm.local.prompt_codec import HFCodec, template_tool_format
from qwen_agent.schema import ChatPrompt, Message, ToolCall, ToolSpec
from tests.conftest import QWEN2_CHAT_TEMPLATE

QWEN25_TEMPLATE = (Path(__file__).parent / "data" / "qwen2.5_chat_template.jinja").read_text()
NOW = ToolSpec(name="now", description="The time.", parameters={"type": "object", "properties": {}})


@pytest.fixture(scope="module")
def codec(tiny_qwen2_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen2_dir)
    tokenizer.chat_template = QWEN25_TEMPLATE
    return HFCodec(tokenizer)


def test_template_decides_the_format():
    assert template_tool_format(QWEN25_TEMPLATE) == "hermes"
    assert template_tool_format(QWEN2_CHAT_TEMPLATE) == ""  # no tools in it: ReAct
    assert template_tool_format("{% if tools %}<function=x>{% endif %}") == "qwen3_coder"
    assert template_tool_format(None) is None


def test_tools_calls_and_results_go_through_the_template(codec):
    call = ToolCall(name="now", arguments="{}", id="call_1")  # P6: {} must stay an object, not the text "{}"
    prompt = ChatPrompt([Message.user("Time?"), Message.assistant(None, [call]), Message.tool("9 am", "call_1")],
                        tools=[NOW])
    text = codec.tokenizer.decode(codec.encode(prompt))
    assert text.startswith("<|im_start|>system\nYou are Qwen, created by Alibaba Cloud.")
    assert '<tools>\n{"type": "function", "function": {"name": "now", "description": "The time.", ' in text
    assert '<|im_start|>assistant\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call><|im_end|>' in text
    assert "<|im_start|>user\n<tool_response>\n9 am\n</tool_response><|im_end|>\n<|im_start|>assistant\n" in text


def test_a_forced_call_is_continued_inside_the_template(codec):
    req = build_request(ChatTemplateFormat(_hermes()), [NOW], "now")
    rendered = req.render([Message.user("Time?")])
    assert isinstance(rendered.prompt, ChatPrompt) and rendered.prompt.tools == (NOW,)
    text = codec.tokenizer.decode(codec.encode(rendered.prompt))
    assert text.endswith('<|im_start|>assistant\n<tool_call>\n{"name": "now", "arguments": ')  # exactly the prefill


def _hermes():
    from qwen_agent.formats.hermes import HermesFormat

    return HermesFormat()
