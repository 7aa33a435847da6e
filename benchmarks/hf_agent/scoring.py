"""The HF Agent benchmark's scoring, as transformers' `evaluate_agent` (v4.35) computed it.

Per item three scores in [0, 1]:
- tool selection: the tools named in backticks in the explanation vs the reference's tools;
- tool used: the tool names appearing (as substrings) in the code vs the reference's tools;
  each 1.0 when the sets are equal, else max(0, 1 - 0.25 * missing - 0.25 * unexpected);
- code: 1 if the code's result is one of the reference results, 0.75 if the result is a dict one of whose
  values is, else 0.3.
The reference's tools are those of the alternative answer the agent's result matched (else the first one).

Code runs over the fake tools whose names occur in the code, with transformers' six builtins (print, range,
float, int, bool, str) and its fuzzy variable lookup, in one of two evaluators:
- "transformers-4.35" (default, the published rule): `tf435`, the subset transformers 4.35 walked;
  an unsupported construct stops evaluation and keeps the partial result;
- "qwen-agent" (ours, `--evaluator qwen-agent`): qwen_agent's restricted evaluator, which also evaluates
  tuples, `not`/`and`/`or`, conditional expressions, arithmetic, `+=` and subscript assignment, so code that
  stopped early (0.3) in transformers can reach the reference (1.0) here.
The result is the value of the last statement that had one (the partial result when evaluation stopped);
None when the code does not parse or a tool or builtin raised.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from benchmarks.hf_agent.tf435 import BASE_PYTHON_TOOLS, Outcome, evaluate_tf435
from qwen_agent.hf_agent import evaluate

EVALUATORS = ("transformers-4.35", "qwen-agent")

TRANSFORMERS_BUILTINS: dict[str, Callable[..., Any]] = {
    "print": print, "range": range, "float": float, "int": int, "bool": bool, "str": str,
}


@dataclass(frozen=True)
class StepScore:
    tool_selection: float
    tool_used: float
    code: float


def bind_inputs(inputs: list[str] | dict[str, str]) -> dict[str, Any]:
    """Inputs listed by name are bound to the string `<<name>>`; a dict gives the values."""
    return dict(inputs) if isinstance(inputs, dict) else {name: f"<<{name}>>" for name in inputs}


def evaluate_code(code: str, inputs: list[str] | dict[str, str], tools: dict[str, Callable[..., Any]],
                  state: dict[str, Any] | None = None, evaluator: str = "transformers-4.35") -> Any:
    """The result the benchmark scores for `code` (see the module docstring); `state` is updated in place."""
    return run_code(code, inputs, tools, state, evaluator).value


def run_code(code: str, inputs: list[str] | dict[str, str], tools: dict[str, Callable[..., Any]],
             state: dict[str, Any] | None = None, evaluator: str = "transformers-4.35") -> Outcome:
    """`evaluate_code`'s result, with why the original run would have stopped on it (transformers-4.35)."""
    visible = {name: fn for name, fn in tools.items() if name in code}
    if state is None:
        state = bind_inputs(inputs)
    else:
        state.update(bind_inputs(inputs))
    if evaluator == "transformers-4.35":
        return evaluate_tf435(code, {**BASE_PYTHON_TOOLS, **visible}, state)
    result = evaluate(code, visible, state, builtins=TRANSFORMERS_BUILTINS, fuzzy_names=True)
    return Outcome(None if result.error_kind in ("syntax", "runtime") else result.value)


def tools_named(text: str, names: Iterable[str], *, backticks: bool) -> set[str]:
    """The tool names occurring in `text` (as `name` in backticks, or anywhere as a substring)."""
    return {n for n in names if (f"`{n}`" if backticks else n) in text}


def overlap_score(found: set[str], expected: set[str]) -> float:
    if found == expected:
        return 1.0
    return max(0.0, 1.0 - 0.25 * len(expected - found) - 0.25 * len(found - expected))


def reference_tools(agent_answer: Any, references: Any, answer: str | list[str], names: Iterable[str]) -> set[str]:
    """The reference's tools: of the alternative the agent's result matched, else of the first."""
    names = list(names)
    if not isinstance(answer, list):
        return tools_named(answer, names, backticks=False)
    if isinstance(agent_answer, dict):
        for one_result, one_code in zip(references, answer, strict=True):
            if one_result in agent_answer.values():
                return tools_named(one_code, names, backticks=False)
    for one_result, one_code in zip(references, answer, strict=True):
        if agent_answer == one_result:
            return tools_named(one_code, names, backticks=False)
    return tools_named(answer[0], names, backticks=False)


def code_score(agent_answer: Any, references: Any, answer: str | list[str]) -> float:
    candidates = references if isinstance(answer, list) else [references]
    if agent_answer in candidates:
        return 1.0
    if isinstance(agent_answer, dict) and any(v in candidates for v in agent_answer.values()):
        return 0.75
    return 0.3


def score_step(explanation: str, code: str, agent_answer: Any, references: Any, answer: str | list[str],
               names: Iterable[str]) -> StepScore:
    """The three scores of one item. `references` is a list (one per alternative) when `answer` is."""
    names = list(names)
    expected = reference_tools(agent_answer, references, answer, names)
    return StepScore(
        tool_selection=overlap_score(tools_named(explanation, names, backticks=True), expected),
        tool_used=overlap_score(tools_named(code, names, backticks=False), expected),
        code=code_score(agent_answer, references, answer),
    )


def reference_results(answer: str | list[str], inputs: list[str] | dict[str, str],
                      tools: dict[str, Callable[..., Any]], states: list[dict[str, Any]] | None = None,
                      evaluator: str = "transformers-4.35") -> Any:
    """The reference result(s): one per alternative when `answer` is a list.

    `states` (chat mode) holds one variable dict per alternative, carried between the steps of a
    conversation; it is extended when a step has more alternatives than an earlier one. A single answer uses
    the first. Without `states` (run mode) every evaluation starts from the inputs alone.
    """
    codes = answer if isinstance(answer, list) else [answer]
    if states is None:
        results = [evaluate_code(code, inputs, tools, evaluator=evaluator) for code in codes]
    else:
        states.extend({} for _ in range(len(codes) - len(states)))
        results = [evaluate_code(code, inputs, tools, state, evaluator)
                   for code, state in zip(codes, states, strict=False)]
    return results if isinstance(answer, list) else results[0]
