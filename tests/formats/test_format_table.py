"""The one table of format names (`qwen_agent.formats.FORMATS`): its variants, and every list that reads it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from qwen_agent.errors import ConfigurationError
from qwen_agent.formats import FORMATS, get_format
from qwen_agent.formats.hermes import QWEN25_DEFAULT_SYSTEM, HermesFormat
from qwen_agent.formats.qwen3_coder import Qwen3CoderFormat
from qwen_agent.formats.template import ChatTemplateFormat
from qwen_agent.function_calling import build_request, resolve_tool_format
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.schema import Message, ToolSpec

DOCS = Path(__file__).parents[2] / "docs" / "tool-formats.md"
WEATHER = ToolSpec(name="get_weather", description="Weather of a city.",
                   parameters={"type": "object", "properties": {"city": {"type": "string"}}})


class TemplateRenders(ScriptedLLM):
    """A scripted model whose chat template renders `native` (as a Qwen3 or Qwen3-Coder checkpoint's does)."""

    def __init__(self, native: str) -> None:
        super().__init__(["unused"])
        self.native = native

    def template_tool_format(self) -> str | None:
        return self.native


def test_variants_build_their_class_with_their_settings():
    thinking = get_format("hermes_qwen3_thinking")
    assert isinstance(thinking, HermesFormat)
    assert (thinking.think_opened, thinking.default_system, thinking.resend_reasoning) == (True, None, True)
    plain = get_format("hermes")
    assert (plain.think_opened, plain.default_system, plain.resend_reasoning) == (False, QWEN25_DEFAULT_SYSTEM, False)
    coder = get_format("qwen3_coder_thinking")
    assert isinstance(coder, Qwen3CoderFormat) and coder.think_opened
    assert get_format("react", lang="zh").lang == "zh"
    assert get_format("hermes_qwen3", think_opened=True).think_opened  # keywords override the variant's


def test_a_thinking_variant_reads_reasoning_the_prompt_opened():
    # the model's text as Qwen3-Thinking-2507 writes it: `<think>` was in the prompt, only `</think>` comes back
    text = 'Paris, so call the tool.\n</think>\n\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    turn = get_format("hermes_qwen3_thinking").parse(text, tools=[WEATHER])
    assert turn.reasoning == "Paris, so call the tool."
    assert [(c.name, c.arguments) for c in turn.tool_calls] == [("get_weather", '{"city": "Paris"}')]
    assert turn.content == ""


def test_the_qwen3_variant_renders_no_default_system_prompt():
    rendered = get_format("hermes_qwen3").render([Message.user("hi")], [])
    assert [(m.role, m.content) for m in rendered.prompt] == [("user", "hi")]
    rendered = get_format("hermes").render([Message.user("hi")], [])
    assert [(m.role, m.content) for m in rendered.prompt] == [("system", QWEN25_DEFAULT_SYSTEM), ("user", "hi")]


def test_names_chosen_with_a_backend_and_unknown_names_are_refused():
    with pytest.raises(ConfigurationError, match="'auto' is chosen with a backend"):
        get_format("auto")
    with pytest.raises(ConfigurationError, match=r"unknown tool_format 'xml'; use one of \['auto', 'hermes'"):
        get_format("xml")
    with pytest.raises(ConfigurationError, match="unknown tool_format 'xml'"):
        resolve_tool_format("xml", ScriptedLLM(["unused"]))


def test_a_variant_of_the_templates_format_is_rendered_by_the_template_with_its_settings():
    fmt = resolve_tool_format("hermes_qwen3_thinking", TemplateRenders("hermes"))
    assert isinstance(fmt, ChatTemplateFormat) and fmt.think_opened  # passed through to the reading
    assert fmt.inner.resend_reasoning
    # the forced prefix is the inner format's, and the stream reads reasoning as the prompt opened it
    assert build_request(fmt, [WEATHER], "get_weather").prefill.startswith('<tool_call>\n{"name": "get_weather"')
    assert fmt.parse("ok\n</think>\n\nSunny.", tools=[WEATHER]).reasoning == "ok"
    # a variant of another format than the template's is rendered by us
    assert isinstance(resolve_tool_format("hermes_qwen3", TemplateRenders("qwen3_coder")), HermesFormat)
    coder = resolve_tool_format("qwen3_coder_thinking", TemplateRenders("qwen3_coder"))
    assert isinstance(coder, ChatTemplateFormat) and coder.think_opened and coder.inner.name == "qwen3_coder"
    # auto still picks the template's own format with its default settings
    assert not resolve_tool_format("auto", TemplateRenders("hermes")).think_opened


def _tool_format_choices(parser: argparse.ArgumentParser) -> list[list[str]]:
    found = []
    for action in parser._actions:
        if "--tool-format" in action.option_strings:
            found.append(list(action.choices))
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _tool_format_choices(sub)
    return found


def test_every_tool_format_option_offers_the_tables_names():
    from qwen_agent.cli import build_parser

    choices = _tool_format_choices(build_parser())
    assert len(choices) >= 3  # run, chat, serve
    assert all(c == list(FORMATS) for c in choices), choices


def test_the_docs_list_the_tables_names():
    rows = re.findall(r'^\| `"([a-z0-9_]+)"`', DOCS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert rows == list(FORMATS)


def test_benchmarks_accept_the_tables_names():
    from benchmarks.code_interpreter import check_formats
    from benchmarks.tool_use import real_tool_use

    args = argparse.Namespace(formats=["react", "hermes_qwen3_thinking"], task="math", oracle=False, replay=None)
    check_formats(args)  # accepted
    with pytest.raises(ConfigurationError, match="unknown \\['xml'\\]"):
        check_formats(argparse.Namespace(formats=["xml"], task="math", oracle=False, replay=None))
    with pytest.raises(ConfigurationError, match="not auto"):
        check_formats(argparse.Namespace(formats=["auto"], task="math", oracle=False, replay="runs/x.jsonl"))
    with pytest.raises(ConfigurationError) as refused:
        real_tool_use.run(real_tool_use.parse(["--model", "scripted", "--formats", "auto,xml"]))
    assert str(refused.value) == f"unknown format(s) ['xml']; use some of {list(FORMATS)}"
