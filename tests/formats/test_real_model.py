"""The hermes format on the real small Qwen: its own chat template agrees with our render, and a call it writes
from our prompt reads back as the right call."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.prompts.chatml import render_chatml
from qwen_agent.schema import Message, ToolCall
from tests.formats.corpus_util import TOOLS

pytestmark = [pytest.mark.real_model, pytest.mark.slow]


def checkpoint_template(gguf: Path) -> str:
    """The chat template stored in the GGUF file's metadata (read without loading the weights)."""
    from gguf import GGUFReader

    field = GGUFReader(gguf).fields["tokenizer.chat_template"]
    return bytes(field.parts[field.data[0]]).decode()


def test_render_is_the_checkpoints_own_template(real_qwen_gguf: Path) -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    tools = [TOOLS["get_weather"], TOOLS["set_alarm"]]
    call = ToolCall(id="1", name="set_alarm", arguments='{"hour": 7, "minute": 0, "repeat": true, "label": null}')
    weather = ToolCall(id="2", name="get_weather", arguments='{"city": "上海"}')
    msgs = [Message.user("Alarm at 7, and Shanghai weather?"), Message.assistant("On it.", [call, weather]),
            Message.tool("set", tool_call_id="1"), Message.tool('{"temp": 30}', tool_call_id="2"),
            Message.assistant("Done; 30 degrees."), Message.user("Thanks!")]
    hf_msgs = [{"role": m.role, "content": m.content or "",
                **({"tool_calls": [{"type": "function", "function": {"name": c.name, "arguments": json.loads(c.arguments)}}
                                   for c in m.tool_calls]} if m.tool_calls else {})} for m in msgs]
    rendered, _ = render_jinja_template([hf_msgs], tools=[t.to_openai() for t in tools],
                                        chat_template=checkpoint_template(real_qwen_gguf), add_generation_prompt=True)
    ours = render_chatml(HermesFormat().render(msgs, tools).prompt, default_system=None)
    assert ours == rendered[0]


@pytest.mark.timeout(900)  # ~40 s of CPU (GGUF load and 40 greedy tokens); the wall time grows on a shared machine
def test_real_model_writes_a_call_we_read(real_qwen_gguf: Path) -> None:
    torch = pytest.importorskip("torch")
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(real_qwen_gguf.parent, gguf_file=real_qwen_gguf.name)
    model = AutoModelForCausalLM.from_pretrained(real_qwen_gguf.parent, gguf_file=real_qwen_gguf.name,
                                                 dtype=torch.float32).eval()
    fmt, tools = HermesFormat(), [TOOLS["get_weather"]]
    msgs = [Message.user("Is it raining in Tokyo right now? Give me the temperature in celsius.")]
    prompt = render_chatml(fmt.render(msgs, tools).prompt, default_system=None)
    ids = tok(prompt, return_tensors="pt").input_ids
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=40, do_sample=False)
    text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    turn = fmt.parse(text, tools=tools)
    assert [c.name for c in turn.tool_calls] == ["get_weather"], text
    assert json.loads(turn.tool_calls[0].arguments)["city"] == "Tokyo", text
