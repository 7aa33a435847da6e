"""The answer turn: the user's question and what the tools returned, stated plainly, with no tools on offer.

Small Qwens given a call and its `tool` result often ask for the same call again; given the question and the
results as plain text in one user message, they answer from them. The agent asks this when the model only
repeats itself or runs out of steps (`qwen_agent.episode_policy.EpisodePolicy`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from qwen_agent.prompts.render import render

# The question comes last, after the results: given it first, the 0.5B answered every Chinese question of
# benchmarks.real_tool_use by repeating the question itself.
ANSWER_TURN = {
    "en": (
        "The tools were already called for my question. What they returned:\n"
        "{results}\n\n"
        "My question: {question}\n"
        "Answer my question from these results, in plain words. Do not call any tool."
    ),
    "zh": (
        "已经为我的问题调用过工具，工具返回的结果：\n"
        "{results}\n\n"
        "我的问题：{question}\n"
        "请根据这些结果，用自然语言回答我的问题，不要再调用任何工具。"
    ),
}

#: after each turn's results, tools still on offer (`EpisodePolicy.ask_after_results`); the question last again
AFTER_RESULTS = {
    "en": (
        "If these results answer my question, answer it from them in plain words; if something is still "
        "missing, call the tool for it.\n"
        "My question: {question}"
    ),
    "zh": (
        "如果这些结果已经能回答我的问题，请直接根据结果用自然语言回答；如果还缺少信息，再调用所需的工具。\n"
        "我的问题：{question}"
    ),
}

#: an answer that states figures no result gave (`EpisodePolicy.check_answer_numbers`); tools still on offer
ANSWER_NUMBERS = {
    "en": (
        "Your answer gives {numbers}, which none of the tool results states. If a part of my question is not "
        "answered by the results yet, call the tool for that part now; otherwise answer again, using only the "
        "results.\n"
        "My question: {question}"
    ),
    "zh": (
        "你的回答中的 {numbers} 没有出现在任何工具结果中。如果我的问题还有部分没有被结果回答，请现在调用工具获取；"
        "否则请只根据这些结果重新回答。\n"
        "我的问题：{question}"
    ),
}

#: an answer speaking of names or figures of the question no call was made for (`EpisodePolicy.check_answer_coverage`)
ANSWER_COVERAGE = {
    "en": (
        "No tool has been called for {terms} yet. If one of the tools serves that part of my question, call it "
        "now; otherwise answer from the results only.\n"
        "My question: {question}"
    ),
    "zh": (
        "还没有为 {terms} 调用任何工具。如果有工具能回答我问题的这一部分，请现在调用它；否则请只根据结果回答。\n"
        "我的问题：{question}"
    ),
}

#: an answer that is a call of a tool nobody offered (`EpisodePolicy.check_invented_tools`); tools still on offer
INVENTED_TOOL = {
    "en": (
        "There is no tool named {name}. If one of the tools you were given serves my request, call it; otherwise "
        "answer my request directly, in plain words.\n"
        "My request: {question}"
    ),
    "zh": (
        "没有名为 {name} 的工具。如果提供给你的工具中有能满足我请求的，请调用它；否则请直接用自然语言回答我的请求。\n"
        "我的请求：{question}"
    ),
}

_CJK = re.compile(r"[\u3400-\u9fff]")


def answer_turn_prompt(question: str, results: Sequence[tuple[str, str]]) -> str:
    """One user message: `question` and each `(call, what it returned)`, in the question's language (Chinese
    when it holds Chinese characters, else English)."""
    lines = "\n".join(f"- {call} -> {_one_line(returned)}" for call, returned in results)
    return render(ANSWER_TURN[_lang(question)], question=question.strip(), results=lines)


def after_results_prompt(question: str) -> str:
    """The user message that follows a turn's tool results: answer from them, or call what is missing."""
    return render(AFTER_RESULTS[_lang(question)], question=question.strip())


def answer_numbers_prompt(question: str, numbers: Sequence[str]) -> str:
    """The user message that follows an answer stating figures no tool result gave."""
    return render(ANSWER_NUMBERS[_lang(question)], question=question.strip(), numbers=", ".join(numbers))


def answer_coverage_prompt(question: str, terms: Sequence[str]) -> str:
    """The user message that follows an answer speaking of parts of the question no tool was called for."""
    return render(ANSWER_COVERAGE[_lang(question)], question=question.strip(), terms=", ".join(terms))


def invented_tool_prompt(question: str, name: str) -> str:
    """The user message that follows an answer written as a call of a tool nobody offered."""
    return render(INVENTED_TOOL[_lang(question)], question=question.strip(), name=name)


def _lang(question: str) -> str:
    return "zh" if _CJK.search(question) else "en"


def _one_line(text: str) -> str:
    text = text.strip()
    return text if "\n" not in text else "\n  " + text.replace("\n", "\n  ")


def ungrounded_prompt(calls: Sequence[Any]) -> str:
    """Asks the model to confirm calls whose argument values appear nowhere in the conversation."""
    listed = ", ".join(f"{c.name}({c.arguments})" for c in calls)
    return (f"Before any tool runs: the call {listed} uses values that appear nowhere in this conversation. "
            "If my request really needs a tool, call it with values taken from my request; if it does not, "
            "answer my request directly.")
