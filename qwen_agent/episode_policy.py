"""`EpisodePolicy`: which of the agent loop's remedies for a small model's habits are on (docs/episodes.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EpisodePolicy:
    """The loop's remedies for a small model's habits, each measured on real Qwens and each can be turned off.

    Args:
        skip_repeats: a call identical to one already run in this episode (same tool, same arguments after
            normalisation: key order, case and spaces of strings, 1 vs 1.0) is not run again; its earlier
            result answers it (a `notice` step says so). A call with other arguments runs.
        answer_turn: when the model only repeats itself (every call of a turn already ran, or every new call
            brought back what an earlier one did) or `max_steps` is reached, the agent asks the model for the
            answer with no tools on offer and the results stated plainly (`AgentResult.end == "answer_turn"`).
        ask_after_results: after each turn's results the model reads, in a user message of the prompt (not of
            `AgentResult.messages`), its question again and to answer from the results or call what is missing
            (not in ReAct, whose results are part of the model's own scratchpad).
        skip_ungrounded_after_repeat: in a turn that opens by repeating a call already run, the calls that follow
            run only if every argument value appears in the conversation (results included): small Qwens replay
            their call and go on listing calls of every tool with invented values.
        confirm_ungrounded: a call none of whose argument values appears in the conversation
            (`qwen_agent.grounding`) is not run at once: the model is asked, once per episode, to call with
            values from the request or answer directly; what it then calls runs.
        check_answer_numbers: once tools ran, an answer that states figures found in no result or message (nor
            one step of arithmetic on them) is not taken at once: the model reads it back, once per episode,
            with its question and is asked to call the tool for the missing part or answer from the results
            (small Qwens answer two-part questions after one call, the second part invented). Not in ReAct. Off:
            on both real models, told, the model restated its invented figure (measured no gain).
        check_invented_tools: an answer that is only a call of a tool nobody offered (`{"name": "cat_joke",
            "arguments": ...}`, the 0.5B's answer to "Tell me a joke") is not taken at once: the model is told,
            once per episode, that there is no such tool, and to call an offered one or answer in plain words.
        check_answer_coverage: once tools ran, an answer that speaks of a name or figure of the question that no
            call's arguments nor result hold ("The weather in Tokyo is also 14°C" after one call, for Paris, to
            "the weather in Paris and in Tokyo?") is not taken at once: the model is told, once per episode, that
            no tool was called for Tokyo yet, to call it or answer from the results. Its answer is not read back
            (shown it, both real models wrote it again word for word). Not in ReAct.
        check_call_figures: a call whose numeric arguments hold a figure the conversation never gave (the 0.5B's
            `calculator("250 * 1.10")` for "Convert 250 US dollars to euros", with a rate it made up) is not
            run: the turn is asked again without that tool, which stays off the offer for the episode (once per
            episode). Only fractions and huge integers are suspect; whole numbers derived from words ("half an
            hour": 30), powers of ten, dates and code pass.
        avoid_repeats: the backend is told which calls already ran (`CallConstraint.ran`); the local one takes
            back a call identical to one of them as the model closes it and lets the model write its next-best
            reply in the same turn (at most twice a turn; a `notice` step says so). Other backends ignore it.
            A reply that uses none of the tool results (the 0.5B, after "no data for this city", invented
            "currently cloudy") gets the answer turn instead. On the 0.5B: one-call episodes 2.60 -> 2.30 turns,
            the same exact episodes (docs/episodes.md).
    """

    skip_repeats: bool = True
    answer_turn: bool = True
    ask_after_results: bool = True
    skip_ungrounded_after_repeat: bool = True
    confirm_ungrounded: bool = False
    check_answer_numbers: bool = False
    check_invented_tools: bool = True
    check_answer_coverage: bool = True
    check_call_figures: bool = True
    avoid_repeats: bool = True
