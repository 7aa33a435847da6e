"""Agent episodes spread over several engines: two of our own servers (real HTTP, the scripted LLM behind
each, named as such), worker i's episodes to engine i mod n, both engines answering."""

from __future__ import annotations

import argparse

from benchmarks.perf.engines_compare import episodes
from qwen_agent.llm.scripted import ScriptedLLM
from qwen_agent.server import ServerThread, create_app


def test_episodes_spread_over_two_servers_and_each_answers_its_share() -> None:
    a, b = ScriptedLLM(["The answer is 4."], cycle=True), ScriptedLLM(["The answer is 4."], cycle=True)
    with ServerThread(create_app(a, model_name="m")) as sa, ServerThread(create_app(b, model_name="m")) as sb:
        rows = episodes([sa.base_url, sb.base_url], "m",
                        argparse.Namespace(workers="1,2", episodes=4, timeout=30.0))
    assert [(r["workers"], r["episodes"]) for r in rows] == [(1, 4), (2, 4)]
    assert all(r["episodes_per_min"] > 0 for r in rows)
    # 4 one-turn episodes per pass, 2 passes: tasks 0 and 2 to the first server, 1 and 3 to the second
    assert len(a.calls) == 4 and len(b.calls) == 4
    questions_a = {p[-1].content for p, _ in a.calls}
    questions_b = {p[-1].content for p, _ in b.calls}
    assert len(questions_a) == 2 and len(questions_b) == 2 and not questions_a & questions_b
