"""Every corpus case reads as hand-checked, whole and streamed in any pieces (hypothesis picks the cuts)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_agent.formats import ToolFormat
from qwen_agent.formats.thinking import lone_close
from tests.formats.corpus_util import expected, format_for, load_cases, reading, tools_of

CASES = [(fmt, case) for fmt in ("hermes", "qwen3_coder") for case in load_cases(fmt)]
IDS = [f"{fmt}:{case['id']}" for fmt, case in CASES]


@pytest.mark.parametrize("fmt", ["hermes", "qwen3_coder"])
def test_corpus_is_large_and_ids_are_unique(fmt: str) -> None:
    cases = load_cases(fmt)
    assert len(cases) >= 60
    assert len({c["id"] for c in cases}) == len(cases)


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=IDS)
def test_whole_reading(fmt: str, case: dict) -> None:
    turn = format_for(fmt, case)._parse(case.get("prefill", "") + case["text"], tools_of(case))
    assert reading(turn) == expected(case)


def _cuts(text: str) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(0, len(text)), max_size=12).map(sorted)


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=IDS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_streamed_reading_equals_whole(fmt: str, case: dict, data: st.DataObject) -> None:
    text, tools, prefill = case["text"], tools_of(case), case.get("prefill", "")
    cuts = data.draw(_cuts(text))
    fmt_obj = format_for(fmt, case)
    reader = fmt_obj.reader(tools, prefill)
    shown = "".join(reader.feed(text[a:b]) for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True))
    turn = reader.finish()
    assert reading(turn) == expected(case)
    assert turn.content.startswith(reader.shown)
    # the deltas add up to what the reader shows, but for a lone `</think>`: what came before it was reasoning
    assert shown == reader.shown if not _lone_close(fmt_obj, case) else shown.endswith(reader.shown)


@pytest.mark.parametrize(("fmt", "case"), CASES, ids=IDS)
def test_char_by_char_streaming(fmt: str, case: dict) -> None:
    text, tools, prefill = case["text"], tools_of(case), case.get("prefill", "")
    fmt_obj = format_for(fmt, case)
    reader = fmt_obj.reader(tools, prefill)
    shown = ""
    for ch in text:
        shown += reader.feed(ch)
        assert case.get("content", "").startswith(shown) or _lone_close(fmt_obj, case)
    assert reading(reader.finish()) == expected(case)
    assert case.get("content", "").startswith(reader.shown)


def _lone_close(fmt: ToolFormat, case: dict) -> bool:
    """The case holds a `</think>` without its opening, which the stream first shows as answer text."""
    return not fmt.think_opened and lone_close(case.get("prefill", "") + case["text"], fmt.call_markers) is not None
