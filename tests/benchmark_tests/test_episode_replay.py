"""Real episodes replayed: what the real Qwen2.5-Coder 0.5B and 1.5B wrote, turn by turn, in recorded runs of
`benchmarks.real_tool_use` (tests/data/real_episodes.jsonl), fed back through the agent loop by the scripted LLM
with the benchmark's counting tools and the run's policy (every field written out, so a change of defaults
does not change what a recorded episode means). The loop must decide as it did live: the same calls
run (counted by the tools themselves), the same end, the same answer.

Each recorded episode shows one habit of the small models (a repeated call, its own result fed back as a call,
a repeat followed by invented calls, arguments of another tool, a call of an invented tool as the answer, a made-up
exchange rate in a calculator call, a two-part question answered after one call), so a change to the loop that
would have run something else on real model text fails here without loading a model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks.tool_use.real_tool_use import counted_tools
from qwen_agent import Agent, EpisodePolicy, ScriptedLLM

EPISODES = Path(__file__).resolve().parents[1] / "data" / "real_episodes.jsonl"
RECORDED = [json.loads(line) for line in EPISODES.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.parametrize("episode", RECORDED, ids=[f"{e['model']}-{e['policy_label']}-{e['task']}" for e in RECORDED])
def test_a_recorded_real_episode_replays_to_the_same_decisions(episode: dict[str, Any]) -> None:
    executed: list[tuple[str, dict[str, Any]]] = []
    llm = ScriptedLLM(episode["turns"])
    agent = Agent(llm, counted_tools(executed), tool_format="hermes", max_steps=episode["max_steps"],
                  policy=EpisodePolicy(**episode["policy"]))
    result = agent.run_result(episode["query"])
    assert [[name, args] for name, args in executed] == episode["executions"]
    assert result.end == episode["end"]
    assert result.answer == episode["answer"]
    assert len(llm.calls) == len(episode["turns"])  # every recorded turn was asked for, no more


def test_the_recorded_episodes_cover_the_habits() -> None:
    """The corpus keeps at least one episode of each habit the loop answers (checked by hand when recorded)."""
    habits = {e["habit"] for e in RECORDED}
    assert {"repeat", "own result fed back", "repeat then invented calls", "another tool's arguments",
            "answers after the result", "a call of an invented tool as the answer", "a made-up figure in a call",
            "a two-part question answered after one call"} <= habits
