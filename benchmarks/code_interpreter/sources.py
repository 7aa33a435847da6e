"""Where the code-interpreter benchmark gets its model turns and verdicts, besides a live model.

- `ModelTurns`: a live `LLM` continuing the assistant turn (stop at `Observation:`).
- `ReplayTurns`: recorded turns, replayed in order (re-scoring without a model).
- `OracleTurns` / `gsm8k_oracle_code`: GSM8K's reference solution turned into code; the answer is read back
  from the sandbox's output, so a 100% score checks prompt, parser, sandbox and scorer end to end.
- `VisionJudge`: asks a vision model behind any OpenAI-compatible endpoint whether a plot is right.
"""

from __future__ import annotations

import ast
import base64
import re
import threading
from collections.abc import Sequence
from pathlib import Path

from benchmarks.code_interpreter.rules import exact_gold
from qwen_agent import LLM, GenerationConfig, Message
from qwen_agent.errors import MissingDependencyError, ModelConnectionError
from qwen_agent.prompts.react import STOP_WORDS


class ModelTurns:
    """Turns from a live model. `lock` serialises calls (a local model on one device)."""

    def __init__(self, llm: LLM, config: GenerationConfig, lock: threading.Lock | None = None) -> None:
        self.llm, self.config, self.lock = llm, config, lock

    def __call__(self, messages: list[Message]) -> str:
        if self.lock is None:
            return self.llm.generate(messages, stop=STOP_WORDS, config=self.config).text
        with self.lock:
            return self.llm.generate(messages, stop=STOP_WORDS, config=self.config).text


class ReplayTurns:
    """Recorded turns in order; an exhausted record answers with empty text (the model said nothing)."""

    def __init__(self, turns: Sequence[str]) -> None:
        self._turns = list(turns)

    def __call__(self, messages: list[Message]) -> str:
        return self._turns.pop(0) if self._turns else ""


def split_transcript(gen: str) -> list[str]:
    """The model turns of a published results text (`gen` / `completion`): the text before each
    `\\nObservation:` and, after each observation, what follows its `\\nThought:`."""
    turns, rest = [], gen
    while True:
        i = rest.find("\nObservation:")
        if i < 0:
            turns.append(rest)
            return turns
        turns.append(rest[:i])
        j = rest.find("\nThought:", i)
        if j < 0:
            return turns
        rest = rest[j + len("\nThought:") :]


# --- GSM8K oracle ---------------------------------------------------------------------------------------
_ANNOTATION = re.compile(r"<<([^<>=]*)=([^<>]*)>>")
_SHOW = "def _show(x):\n    x = round(float(x), 6)\n    return int(x) if x == int(x) else x\n"


def gsm8k_oracle_code(answer: str) -> str:
    """Python that recomputes a GSM8K reference solution and prints its answer.

    Every `<<expr=result>>` calculator annotation that is a Python expression becomes a step; the answer is
    the last step whose stated result is the gold number, else the gold number itself. Parsed here with
    `ast` (never run here): the code runs in the sandbox.
    """
    gold = exact_gold(answer)
    lines = ["# the calculator steps of the reference solution", _SHOW]
    chosen = None
    for n, (expr, result) in enumerate(_ANNOTATION.findall(answer)):
        expr = expr.strip()
        if not _is_expression(expr):
            continue
        lines.append(f"step{n} = {expr}")
        if _as_number(result) == gold:
            chosen = f"step{n}"
    lines.append(f"answer = {chosen or repr(gold)}")
    lines.append("print(_show(answer))")
    return "\n".join(lines)


def _is_expression(expr: str) -> bool:
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError):
        return False
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Constant, ast.operator, ast.unaryop)
    return all(isinstance(node, allowed) for node in ast.walk(tree))


def _as_number(text: str) -> float | None:
    try:
        return float(text.strip().replace(",", ""))
    except ValueError:
        return None


class OracleTurns:
    """Writes the oracle code, then answers with the number the sandbox printed."""

    def __init__(self, code: str) -> None:
        self.code = code
        self.calls = 0

    def __call__(self, messages: list[Message]) -> str:
        self.calls += 1
        so_far = (messages[-1].content or "") if messages[-1].role == "assistant" else ""
        if self.calls == 1:
            lead = " " if so_far.endswith("Thought:") else "Thought: "
            return (f"{lead}I will compute the answer with code.\nAction: code_interpreter\nAction Input:\n"
                    f"```py\n{self.code}\n```\n")
        printed = re.findall(r"stdout:\n\n```\n(.*?)\n```", so_far, re.DOTALL)
        value = printed[-1].strip().splitlines()[-1] if printed and printed[-1].strip() else "unknown"
        return f" I now know the final answer\nFinal Answer: {value}"


# --- visualization judge --------------------------------------------------------------------------------
# `metrics/visualization.py` EVAL_VISUAL_PROMPT_ZH / _EN (lines ~11-17), verbatim, trailing newline included.
PUBLISHED_JUDGE_PROMPT = {
    "zh": "请判断图片是否与下面的[问题]一致，如果一致则回复“right”，不一致则回复“wrong”。\n[问题]：{query}\n",
    "en": ('Please judge whether the image is consistent with the [Question] below, if it is consistent then reply '
           '"right", if not then reply "wrong".\n[Question]: {query}\n'),
}
# OUR OLDER WORDING (`--judge-prompt ours`).
OUR_JUDGE_PROMPT = {
    "en": ('Look at the image(s) and decide whether they correctly show what the request below asks for. '
           'Reply with one word: "right" if they do, "wrong" if they do not.\n[Request]: {query}'),
    "zh": "请查看图片，判断它是否正确地画出了下面[请求]所要求的内容。只回复一个词：符合则回复“right”，不符合则回复“wrong”。\n[请求]：{query}",
}


class VisionJudge:
    """A vision model behind an OpenAI-compatible endpoint, asked "right" or "wrong" about a plot.

    As `metrics/visualization.py` `judger_model_inference()` (lines ~30-60) asked gpt-4-vision-preview: one
    user message, the prompt text first and then every figure as a base64 image, `max_tokens=300`, no
    temperature given (the endpoint's default); the verdict is "right" when the reply contains "right"
    (case-insensitive). `prompt`: "published" or "ours"; `temperature`: None keeps the endpoint's default.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", timeout: float = 120.0, *,
                 prompt: str = "published", temperature: float | None = None) -> None:
        try:
            import openai
        except ImportError as e:
            raise MissingDependencyError("openai", "benchmarks", "The visualization judge") from e
        self.model, self.temperature = model, temperature
        self.prompts = PUBLISHED_JUDGE_PROMPT if prompt == "published" else OUR_JUDGE_PROMPT
        self._client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=2)
        self._errors = (openai.APIConnectionError, openai.APIStatusError, openai.APITimeoutError)

    def judge(self, images: Sequence[str | Path], query: str, lang: str = "en") -> tuple[bool, str]:
        """(verdict, the judge's reply)."""
        text = self.prompts.get(lang, self.prompts["en"]).format(query=query)
        content: list[dict] = [{"type": "text", "text": text}]
        for path in images:
            b64 = base64.b64encode(Path(path).read_bytes()).decode("ascii")
            content.append({"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}})
        try:
            extra = {} if self.temperature is None else {"temperature": self.temperature}
            reply = self._client.chat.completions.create(
                model=self.model, messages=[{"role": "user", "content": content}], max_tokens=300, **extra)
        except self._errors as e:
            raise ModelConnectionError(f"the visualization judge at {self._client.base_url} failed: {e}") from e
        text = reply.choices[0].message.content or ""
        return "right" in text.lower(), text
