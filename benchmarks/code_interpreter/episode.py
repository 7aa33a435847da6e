"""One code-interpreter episode as Qwen-Agent's benchmark ran it, and the scoring of its text.

The model reads Qwen's ReAct prompt with one tool, `code_interpreter`, and continues the assistant turn; each
`Action Input` code block runs in a sandboxed kernel (`qwen_agent.interpreter`), the observation is appended
as `\\nObservation: ...\\nThought:` and the model continues, until it stops calling the tool, an execution
fails, or the execution limit is reached. Nothing here executes code in this process.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import json5

from benchmarks.code_interpreter.rules import (
    exact_gold,
    merged_observation,
    observation_failed,
    published_observation,
)
from qwen_agent import Message
from qwen_agent.interpreter import KernelSession
from qwen_agent.interpreter.fonts import find_cjk_font
from qwen_agent.prompts.react import REACT_TEMPLATE
from qwen_agent.prompts.render import render

SYSTEM = "You are a helpful assistant."
# The tool as Qwen's code-interpreter benchmark described it to Qwen models (name, human name, description
# and parameter list are the ones Qwen-Chat saw), in the shape of Qwen's ReAct tool line.
TOOL_LINE = (
    'code_interpreter: Call this tool to interact with the 代码解释器 API. What is the 代码解释器 API useful for? '
    '代码解释器，可用于执行Python代码。 Parameters: [{"name": "code", "type": "string", "description": "待执行的代码"}] '
    "Enclose the code within triple backticks (`) at the beginning and end of the code."
)
UPLOAD_NOTE = {"zh": "[上传文件{names}]", "en": "[Upload file {names}]"}
# The published kernel preamble, `benchmark/code_interpreter.py` START_CODE (lines ~110-135), in our words:
# input() disabled; math, re, json imported; seaborn's theme set; a CJK font for matplotlib with ASCII minus
# signs; numpy, pandas, sympy's Eq/symbols/solve imported. The CJK family is the one our sandbox found (the
# original named SimHei); the SIGALRM timer and the chdir of the original are left out: our sandbox keeps the
# deadline outside the kernel and starts it in the case's folder.
PREAMBLE = """
def input(*args, **kwargs):
    raise NotImplementedError('Python input() function is disabled.')
import math
import re
import json
import seaborn as sns
sns.set_theme()
import matplotlib
import matplotlib.pyplot as plt
plt.rcParams['font.sans-serif'] = {fonts!r} + plt.rcParams['font.sans-serif']
plt.rcParams['axes.unicode_minus'] = False
import numpy as np
import pandas as pd
from sympy import Eq, symbols, solve
"""
# OUR OLDER PREAMBLE (`--preamble lazy`): the same names, but heavy modules load on first use (about a second
# less per kernel) and no seaborn theme or font is set.
LAZY_PREAMBLE = """
import math, re, json, os, importlib
def input(*args, **kwargs):
    raise NotImplementedError('Python input() function is disabled.')
class _LazyModule:
    def __init__(self, alias, module):
        self._alias, self._module = alias, module
    def __getattr__(self, attr):
        module = importlib.import_module(self._module)
        if globals().get(self._alias) is self:
            globals()[self._alias] = module
        return getattr(module, attr)
    def __repr__(self):
        return f"<module {self._module!r} (loads on first use)>"
for _alias, _module in (('np', 'numpy'), ('pd', 'pandas'), ('sns', 'seaborn'), ('plt', 'matplotlib.pyplot'),
                        ('matplotlib', 'matplotlib')):
    globals()[_alias] = _LazyModule(_alias, _module)
def _sympy(name):
    def call(*args, **kwargs):
        return getattr(importlib.import_module('sympy'), name)(*args, **kwargs)
    return call
Eq, symbols, solve = _sympy('Eq'), _sympy('symbols'), _sympy('solve')
del _alias, _module
"""


def published_preamble() -> str:
    """PREAMBLE with the CJK font this machine has (none: the list stays matplotlib's)."""
    font = find_cjk_font()
    return PREAMBLE.format(fonts=[font] if font else [])


def font_lines() -> list[str]:
    """What the published `code_interpreter()` (lines ~140-150) put after every `sns.set_theme(` line, since
    seaborn's theme resets the font: the CJK font and ASCII minus signs."""
    font = find_cjk_font()
    return [f"plt.rcParams['font.sans-serif'] = {[font] if font else []!r} + plt.rcParams['font.sans-serif']",
            "plt.rcParams['axes.unicode_minus'] = False"]


@dataclass(frozen=True)
class EpisodeRules:
    """Which definition each part of an episode follows: "published" (default) or our older one.

    observations: "published" (one block per output message, in order) or "merged" (ours);
    end: "published" (stop when an observation holds `error:` / `Traceback`) or "status" (ours: the kernel's
        status is not ok);
    easy_observation: ours when True: an easy case's given round gets its Observation in the prompt (the
        original ran it but showed the model nothing);
    preamble: "published" (START_CODE's imports, theme and font) or "lazy" (ours).
    """

    observations: str = "published"
    end: str = "published"
    easy_observation: bool = False
    preamble: str = "published"


TurnSource = Callable[[list[Message]], str]


def user_prompt(query: str, lang: str = "en", files: Sequence[str] = ()) -> str:
    """The user turn: the ReAct instructions with the code interpreter, and the question.

    The English template serves every language, as in the published benchmark; `lang` only picks the wording
    of the uploaded-files note put before the question.
    """
    note = UPLOAD_NOTE.get(lang, UPLOAD_NOTE["en"]).format(names=", ".join(files)) if files else ""
    return render(REACT_TEMPLATE["en"], tool_descs=TOOL_LINE, tool_names="code_interpreter", query=note + query)


def split_query(query: str) -> tuple[str, str]:
    """(question, assistant prefix). An "easy" visualization query carries the first round of the assistant
    turn after `<|im_end|>\\n<|im_start|>assistant\\n`; a plain query has no prefix."""
    if "<|im_start|>" not in query:
        return query, ""
    question, _, rest = query.partition("<|im_end|>")
    prefix = rest.split("<|im_start|>assistant", 1)[-1].lstrip("\n")
    return question.rstrip(), prefix


def latest_action(text: str) -> tuple[str, str, str]:
    """(action, action input, text up to the observation) of the last Action in a model turn.

    Published reading: the last `\\nAction:` before the last `\\nAction Input:`; the input runs to
    `\\nObservation:` (added back when the stop word was cut off). No action: ("", "", text).
    """
    i, j, k = text.rfind("\nAction:"), text.rfind("\nAction Input:"), text.rfind("\nObservation:")
    if not 0 <= i < j:
        return "", "", text
    if k < j:
        text = text.rstrip() + "\nObservation:"
        k = text.rfind("\nObservation:")
    return text[i + len("\nAction:") : j].strip(), text[j + len("\nAction Input:") : k].strip(), text[:k]


def extract_code(action_input: str) -> str:
    """The code of an Action Input: a ``` block, else a `single-backtick` span, else a JSON {"code": ...}."""
    fenced = re.search(r"```[^\n]*\n(.+?)```", action_input, re.DOTALL)
    if fenced:
        return fenced.group(1)
    inline = re.search(r"`([^`]*)`", action_input, re.DOTALL)
    if inline:
        return inline.group(1)
    try:
        value = json5.loads(action_input)
    except ValueError:
        return action_input
    return value["code"] if isinstance(value, dict) and isinstance(value.get("code"), str) else action_input


def prepare_code(code: str) -> str:
    """As the published `code_interpreter()` (lines ~140-150): the font lines after each `sns.set_theme(`
    line, and a `def solution()` the model forgot to call is called."""
    lines: list[str] = []
    for line in code.split("\n"):
        lines.append(line)
        if line.startswith("sns.set_theme("):
            lines += font_lines()
    code = "\n".join(lines)
    return code + "\nsolution()" if "def solution()" in code else code


class Episode:
    """Runs one case: model turns from `source`, code in `session`, images copied to `image_dir`.

    As `inference_and_execute.py` `llm_with_plugin()` (lines ~45-90): an easy case's given round runs first
    and raises the execution limit by one; each model turn's last Action runs; the observation is appended as
    `\nObservation: ...\nThought:`; the episode ends when the model calls no tool, an observation fails
    (`rules.end`), or the limit is reached.
    """

    def __init__(self, session: KernelSession, source: TurnSource, *, timeout: float, image_dir: Path,
                 rules: EpisodeRules | None = None) -> None:
        self.session, self.source, self.timeout, self.image_dir = session, source, timeout, image_dir
        self.rules = rules or EpisodeRules()
        self.executions: list[dict[str, Any]] = []
        self.turns: list[str] = []

    def run(self, question: str, prefix: str, files: Sequence[str], lang: str, limit: int) -> dict[str, Any]:
        """Returns {gen, turns, executions}; `gen` is what followed the prompt: the model's turns and the
        observations (an easy case's given round is part of the prompt, not of `gen`)."""
        self.session.execute(published_preamble() if self.rules.preamble == "published" else LAZY_PREAMBLE,
                             timeout=max(self.timeout, 60.0))
        user = user_prompt(question, lang, files)
        given, text, count = prefix, "", 0
        if prefix:  # "easy" case: the given round runs first; it does not count against the limit
            _, code, _ = latest_action(prefix)
            obs, _ = self._execute(extract_code(code), given=True)
            if self.rules.easy_observation and (prefix.rstrip().endswith("```")
                                                or prefix.rstrip().endswith("Action Input:")):
                given = prefix.rstrip() + f"\nObservation: {obs}\nThought:"
        while count < limit:
            output = self.source(_messages(user, given + text))
            self.turns.append(output)
            action, action_input, output = latest_action(output)
            if not action:
                text += output
                break
            obs, ok = self._execute(extract_code(action_input))
            text += output + f"\nObservation: {obs}\nThought:"
            count += 1
            if not ok:
                break
        return {"gen": text, "turns": self.turns, "executions": self.executions}

    def _execute(self, code: str, given: bool = False) -> tuple[str, bool]:
        """(observation, whether the episode may go on)."""
        r = self.session.execute(prepare_code(code), timeout=self.timeout)
        images = []
        for n, path in enumerate(r.images, len(self._all_images()) + 1):
            self.image_dir.mkdir(parents=True, exist_ok=True)
            target = self.image_dir / f"fig-{n}.png"
            shutil.copyfile(path, target)
            images.append(str(target.resolve()))
        if self.rules.observations == "published":
            obs = published_observation(r, self.timeout, images)
        else:
            obs = merged_observation(r, self.timeout, images)
        self.executions.append({"code": code, "status": r.status, "observation": obs, "images": images,
                                "given": given})
        go_on = not observation_failed(obs) if self.rules.end == "published" else r.status == "ok"
        return obs, go_on

    def _all_images(self) -> list[str]:
        return [p for e in self.executions for p in e["images"]]


def _messages(user: str, assistant_so_far: str) -> list[Message]:
    msgs = [Message.system(SYSTEM), Message.user(user)]
    if assistant_so_far:
        msgs.append(Message.assistant(assistant_so_far))
    return msgs


# --- math scoring ---------------------------------------------------------------------------------------
# The published GSM8K reading of a completion: the last number that stands alone (after whitespace or one of
# $ % # {, before whitespace, '.', ',', '}' or the end), with thousands commas and '+' dropped. Newlines are
# turned into the two characters "\n" first, as the published script did, so a number right after or before a
# line break does not count.
_LAST_NUMBER = re.compile(
    r"(?<=[\s$%#{])"  # preceded by whitespace or $ % # {
    r"[+-]?(?=\S)"  # optional sign, then something
    r"(?:0|[1-9](?:\d*|\d{0,2}(?:,\d{3})*))?"  # integer part, plain or with thousands commas
    r"(?:\.\d*[1-9])?"  # fraction without trailing zeros
    r"(?=[\s.,}]|$)"  # followed by whitespace . , } or the end
)


def last_number(text: str) -> float | int | None:
    """The answer a completion gives under the published rule, or None when it gives none."""
    matches = list(_LAST_NUMBER.finditer(text.strip(".").replace("\n", "\\n")))
    if not matches or not matches[-1].group():
        return None
    s = matches[-1].group().replace(",", "").replace("+", "")
    try:
        return float(s) if "." in s else int(s)
    except ValueError:
        return None


def gold_number(answer: str, rule: str = "published") -> float | int:
    """The gold number of a GSM8K answer.

    "published": `metrics/gsm8k.py` `is_correct()` (line ~30) reads the gold with the same `extract_answer`
    as the completion, over the whole solution, so `#### 2,125` gives 2 (the thousands comma ends the match);
    "exact" (`--gold exact`, ours): the number after `#### `, commas dropped.
    """
    if rule == "exact":
        return exact_gold(answer)
    exact_gold(answer)  # a record without a `#### ` line is not a GSM8K answer
    value = last_number(answer)
    if value is None:
        raise ValueError("GSM8K answer without a number")
    return value
