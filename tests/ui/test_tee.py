"""TeeLLM: generate served from the backend's stream, every piece shown, stoppable between pieces."""

from __future__ import annotations

import threading

import pytest

from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.ui.tee import RunCancelled, TeeLLM


def test_generate_equals_the_backend_and_shows_every_piece() -> None:
    text = "Thought: look it up\nAction: search\nAction Input: {}\nObservation: made up"
    pieces: list[str] = []
    tee = TeeLLM(ScriptedLLM([text], chunk_size=4), pieces.append, threading.Event())
    gen = tee.generate("prompt", stop=["Observation:"])
    assert gen.text == "Thought: look it up\nAction: search\nAction Input: {}\n"
    assert "".join(pieces) == gen.text  # nothing past the stop word is shown
    assert len(pieces) > 5
    assert tee.model_name == "scripted" and tee.calls == [("prompt", ["Observation:"])]  # read through


def test_a_set_cancel_stops_at_the_next_piece() -> None:
    cancel = threading.Event()
    pieces: list[str] = []

    def show(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            cancel.set()

    inner = ScriptedLLM(["0123456789" * 10, "next"], chunk_size=2)
    tee = TeeLLM(inner, show, cancel)
    with pytest.raises(RunCancelled):
        tee.generate("p")
    assert pieces == ["01", "23", "45"]
    with pytest.raises(RunCancelled):  # still set: the backend is not even asked
        tee.generate("p")
    assert len(inner.calls) == 1


def test_questions_about_the_backend_reach_the_backend() -> None:
    class Native(ScriptedLLM):  # a backend that answers a planner's question its own way
        model_name = "native"

        def default_answer(self) -> str:
            return "mine"

    tee = TeeLLM(Native(["x"]), lambda _: None, threading.Event())
    assert tee.model_name == "native" and tee.default_answer() == "mine"
    assert tee.default_config is tee.inner.default_config
