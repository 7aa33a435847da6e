"""Stop strings on decoded text: batch trimming, streaming hold-back, and their agreement."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.llm.stops import StopMatcher, find_stop, trim_at_stop
from qwen_agent.prompts.react import STOP_WORDS
from qwen_agent.text import partial_marker_len


def test_find_stop_earliest_wins() -> None:
    assert find_stop("a Observation: b Final", ["Final", "Observation:"]) == (2, "Observation:")
    assert find_stop("nothing here", STOP_WORDS) is None


def test_partial_marker_len() -> None:
    assert partial_marker_len("text Observ", STOP_WORDS) == len("Observ")
    assert partial_marker_len("text O", STOP_WORDS) == 1
    assert partial_marker_len("text", STOP_WORDS) == 0


def test_trim_at_stop() -> None:
    assert trim_at_stop("Action: x\nObservation: y", STOP_WORDS) == ("Action: x\n", "Observation:")


def test_matcher_holds_back_prefix_until_resolved() -> None:
    m = StopMatcher(["Observation:"])
    assert m.feed("Action: a\nObs") == "Action: a\n"
    assert m.feed("erv") == ""
    assert m.feed("ed it") == "Observed it"  # not a stop after all: released
    assert m.feed(" Observation: z") == " "
    assert m.stopped == "Observation:"
    assert m.feed("more") == ""


def test_flush_drops_partial_when_cut_by_length() -> None:
    m = StopMatcher(["Observation:"])
    assert m.feed("answer\nObserv") == "answer\n"
    assert m.flush(keep_partial=False) == ""


def test_generate_trims_partial_stop_on_length_only() -> None:
    from qwen_agent.schema import Generation, GenerationConfig

    class Cut(ScriptedLLM):
        def _generate(self, prompt, stop, config: GenerationConfig) -> Generation:  # noqa: ANN001
            return Generation(text=self._take(prompt, stop), finish_reason="length")

    assert Cut(["Thought: x\nObserv"]).generate("p", stop=STOP_WORDS).text == "Thought: x\n"
    # A model that ends on its own keeps every character, even one that starts a stop word.
    assert ScriptedLLM(["The symbol is O"]).generate("p", stop=STOP_WORDS).text == "The symbol is O"


@settings(max_examples=300, deadline=None)
@given(
    text=st.text(alphabet=st.sampled_from(list("Obsrvation:\n xy")), max_size=60),
    chunk=st.integers(min_value=1, max_value=7),
)
def test_stream_equals_generate_and_never_shows_a_stop(text: str, chunk: int) -> None:
    full = ScriptedLLM([text]).generate("p", stop=STOP_WORDS)
    shown = ""
    for c in ScriptedLLM([text], chunk_size=chunk).stream("p", stop=STOP_WORDS):
        shown += c.text
        assert "Observation:" not in shown
    assert shown == full.text
    assert "Observation:" not in full.text


def test_stream_final_chunk_reports_stop() -> None:
    chunks = list(ScriptedLLM(["a\nObservation: b"]).stream("p", stop=STOP_WORDS))
    assert "".join(c.text for c in chunks) == "a\n"
    assert chunks[-1].finish_reason == "stop"


def test_stream_closes_backend_generator_at_stop() -> None:
    produced: list[str] = []

    class Counting(ScriptedLLM):
        def _stream(self, prompt, stop, config):  # noqa: ANN001, ANN202
            for piece in ["Action: a\n", "Observation:", " never", " read"]:
                produced.append(piece)
                yield __import__("qwen_agent.schema", fromlist=["Chunk"]).Chunk(text=piece)

    assert "".join(c.text for c in Counting([]).stream("p", stop=STOP_WORDS)) == "Action: a\n"
    assert produced == ["Action: a\n", "Observation:"]
