"""Readers never raise on any text, and stream what they may as early as they may."""

from __future__ import annotations

import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_agent.formats.hermes import HermesFormat
from qwen_agent.formats.qwen3_coder import Qwen3CoderFormat
from tests.formats.corpus_util import TOOLS, load_cases

FRAGMENTS = [
    "<tool_call>", "</tool_call>", "<think>", "</think>", "<function=", "</function>", "<parameter=", "</parameter>",
    ">", "\n", "{", "}", "[", "]", '"', "'", "\\", ":", ",", "```", "```json\n", '"name"', '"arguments"',
    "get_weather", "city", "Paris", "null", "true", "1.5", " ", "<", "=", "北京",
]
TEXTS = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=40).map("".join)
ALL_TOOLS = list(TOOLS.values())
FORMATS = [HermesFormat(), HermesFormat(think_opened=True), Qwen3CoderFormat(), Qwen3CoderFormat(think_opened=True)]


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f"{f.name}-opened={f.think_opened}")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=TEXTS, cuts=st.lists(st.integers(0, 200), max_size=8))
def test_never_raises_and_stream_agrees(fmt, text: str, cuts: list[int], caplog: pytest.LogCaptureFixture) -> None:
    whole = fmt._parse(text, ALL_TOOLS)  # the hook itself, so the base class's safety net hides no crash
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="qwen_agent"):
        reader = fmt.reader(ALL_TOOLS)
        bounds = sorted({min(c, len(text)) for c in cuts})
        shown = "".join(reader.feed(text[a:b]) for a, b in zip([0, *bounds], [*bounds, len(text)], strict=True))
        streamed = reader.finish()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (streamed.content, streamed.reasoning) == (whole.content, whole.reasoning)
    assert [(c.name, c.arguments) for c in streamed.tool_calls] == [(c.name, c.arguments) for c in whole.tool_calls]
    assert whole.content.startswith(reader.shown)  # what the reader shows is where the content starts
    assert shown.endswith(reader.shown)  # ... after a lone `</think>` made what it showed before reasoning


@pytest.mark.parametrize("fmt", [HermesFormat(), Qwen3CoderFormat()], ids=lambda f: f.name)
def test_plain_answer_streams_before_the_end(fmt) -> None:
    reader = fmt.reader(ALL_TOOLS)
    words = ["The ", "weather ", "in ", "Paris ", "is ", "mild", "."]
    shown = [reader.feed(w) for w in words]
    assert "".join(shown) == "The weather in Paris is mild."
    assert shown[0] == "The"  # the space is held back until more text shows it is not trailing
    assert reader.finish().content == "The weather in Paris is mild."


@pytest.mark.parametrize(("fmt", "call"), [
    (HermesFormat(), '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'),
    (Qwen3CoderFormat(), "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"),
], ids=["hermes", "qwen3_coder"])
def test_prose_before_a_call_streams_and_markup_never_shows(fmt, call: str) -> None:
    reader = fmt.reader(ALL_TOOLS)
    shown = reader.feed("Let me check. ")
    assert shown == "Let me check."
    for ch in call:
        shown += reader.feed(ch)
    turn = reader.finish()
    assert shown == "Let me check."
    assert [c.name for c in turn.tool_calls] == ["get_weather"]


def test_reasoning_is_never_shown_as_content() -> None:
    reader = HermesFormat().reader(ALL_TOOLS)
    shown = "".join(reader.feed(ch) for ch in "<think>\nsecret plan\n</think>\n\nHello!")
    assert shown == "Hello!"
    assert reader.finish().reasoning == "secret plan"


def test_opened_think_shows_nothing_before_the_close() -> None:
    reader = Qwen3CoderFormat(think_opened=True).reader(ALL_TOOLS)
    assert reader.feed("I think the answer is 4. ") == ""
    assert reader.feed("</think>\n\nIt is 4.") == "It is 4."


CORPUS_TEXTS = [(fmt, case["text"]) for fmt in ("hermes", "qwen3_coder") for case in load_cases(fmt)]
BY_NAME = {"hermes": HermesFormat(), "qwen3_coder": Qwen3CoderFormat()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_corpus_outputs_never_crash_and_stream_the_same(data: st.DataObject,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Near-valid outputs (a real or hand-written case with pieces cut out or markup spliced in) are where
    parsers break: every reading must still succeed, whole and streamed."""
    name, text = data.draw(st.sampled_from(CORPUS_TEXTS))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(text)))
        if data.draw(st.booleans()):
            text = text[:at] + text[at + data.draw(st.integers(1, 6)):]
        else:
            text = text[:at] + data.draw(st.sampled_from(FRAGMENTS)) + text[at:]
    fmt = BY_NAME[name]
    whole = fmt._parse(text, ALL_TOOLS)
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="qwen_agent"):
        reader = fmt.reader(ALL_TOOLS)
        shown = "".join(reader.feed(text[i:i + 3]) for i in range(0, len(text), 3))
        streamed = reader.finish()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert (streamed.content, streamed.reasoning) == (whole.content, whole.reasoning)
    assert [(c.name, c.arguments) for c in streamed.tool_calls] == [(c.name, c.arguments) for c in whole.tool_calls]
    assert whole.content.startswith(reader.shown) and shown.endswith(reader.shown)
