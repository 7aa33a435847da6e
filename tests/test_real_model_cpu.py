"""The small real Qwen (Qwen2.5-Coder-0.5B-Instruct, Q4_K_M GGUF) in the backend's default CPU setting."""

from __future__ import annotations

import json
import re

import pytest

from qwen_agent.llm import get_llm
from qwen_agent.llm.local.local_setup import probe_machine
from qwen_agent.schema import GenerationConfig
from qwen_agent.settings import Settings

pytest.importorskip("transformers")
pytest.importorskip("gguf")

WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}  # fmt: skip


@pytest.mark.real_model
@pytest.mark.slow
def test_default_cpu_setting_writes_the_tool_call(real_qwen_gguf):
    """Loaded from the GGUF (through the converted-checkpoint cache), in bf16 where the CPU has it, the model
    answers a weather question with a call to the offered tool, and a reused prefix changes nothing."""
    cache = Settings.from_env().converted_dir
    with get_llm("transformers", model=str(real_qwen_gguf), gguf_cache_dir=cache,
                 config=GenerationConfig(max_tokens=40)) as llm:  # fmt: skip
        assert llm.dtype == ("bfloat16" if probe_machine().cpu_bf16 else "float32")
        messages = [{"role": "user", "content": "What's the weather in Paris right now?"}]
        prompt = llm.codec.tokenizer.apply_chat_template(messages, tools=[WEATHER], add_generation_prompt=True,
                                                         tokenize=False)
        first = llm.generate(prompt)
        again = llm.generate(prompt)
    assert again.usage.cached_tokens == again.usage.prompt_tokens - 1 and again.text == first.text
    call = json.loads(re.search(r"\{.*\}", first.text, re.S).group(0))
    assert call["name"] == "get_weather"
    assert call["arguments"]["city"].lower().startswith("paris")


@pytest.mark.real_model
@pytest.mark.slow
def test_int8_writes_the_same_tool_call(real_qwen_gguf):
    """With int8 weights (over the CPU's default dtype) the model makes the same call to the offered tool."""
    cache = Settings.from_env().converted_dir
    with get_llm("transformers", model=str(real_qwen_gguf), gguf_cache_dir=cache, quantize="int8",
                 config=GenerationConfig(max_tokens=40)) as llm:  # fmt: skip
        assert type(llm.model.lm_head).__name__ == "Int8Linear"
        messages = [{"role": "user", "content": "What's the weather in Paris right now?"}]
        prompt = llm.codec.tokenizer.apply_chat_template(messages, tools=[WEATHER], add_generation_prompt=True,
                                                         tokenize=False)
        out = llm.generate(prompt)
    call = json.loads(re.search(r"\{.*\}", out.text, re.S).group(0))
    assert call["name"] == "get_weather"
    assert call["arguments"]["city"].lower().startswith("paris")
