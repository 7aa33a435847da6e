"""The code-interpreter benchmark's rules as Qwen-Agent's published code defined them, beside our older ones.

Each rule below reproduces a piece of Qwen-Agent's `benchmark/` (the state behind the 20231206 table; files read
at QwenLM/Qwen-Agent commit 59a1aac / 31db8d1 / 305e770, cited per function). The published rule is the
harness's default; the rule this harness used before is kept behind an option, named in each docstring.
Nothing here runs code: `general_check_code` only builds the text that `general_check` runs in a sandbox.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from qwen_agent.interpreter import ExecutionResult
from qwen_agent.interpreter.result import strip_ansi

# --- observation layout (item 5) ------------------------------------------------------------------------


def published_observation(r: ExecutionResult, timeout: float, images: Sequence[str]) -> str:
    """The observation text as `benchmark/code_interpreter.py` `_code_interpreter()` (lines ~140-190) built it:
    one block per output message in arrival order, `\\n\\n<kind>:\\n\\n```\\n<text>\\n```` for a stream
    (kind stdout/stderr), a text execute_result or display_data, or an error (its ANSI-free traceback); a
    figure as `\\n\\n![fig-NNN](path)`, numbered from 1 within the execution; the whole left-stripped of
    newlines. A timeout or a dead kernel adds the `error:` block that script wrote for it. `images` are the
    paths to show for the execution's figures, in order (copies that outlive the kernel)."""
    parts: list[str] = []
    shown = iter(images)
    n = 0
    for kind, text in r.events:
        if kind == "image":
            n += 1
            parts.append(f"\n\n![fig-{n:03d}]({next(shown, text)})")
        elif text:
            parts.append(f"\n\n{kind}:\n\n```\n{strip_ansi(text) if kind == 'error' else text}\n```")
    if r.status == "timeout":
        parts.append(f"\n\nerror:\n\n```\nTimeout. No response after {timeout:g} seconds.\n```")
    elif r.status == "died":
        parts.append("\n\nerror:\n\n```\nThe code interpreter encountered an unexpected error.\n```")
    return "".join(parts).lstrip("\n")


def merged_observation(r: ExecutionResult, timeout: float, images: Sequence[str]) -> str:
    """OUR OLDER LAYOUT (`--observations merged`): streams of one kind merged, text display_data dropped, the
    result after the streams, figures after the result, the error last."""
    blocks: list[str] = []
    merged: list[tuple[str, str]] = []
    for name, text in r.streams:
        if merged and merged[-1][0] == name:
            merged[-1] = (name, merged[-1][1] + text)
        else:
            merged.append((name, text))
    blocks += [f"{name}:\n\n```\n{strip_ansi(text).rstrip(chr(10))}\n```" for name, text in merged]
    if r.result is not None:
        blocks.append(f"execute_result:\n\n```\n{r.result}\n```")
    blocks += [f"![fig-{n:03d}]({path})" for n, path in enumerate(images, 1)]
    if r.error is not None:
        blocks.append(f"error:\n\n```\n{r.error.text}\n```")
    elif r.status == "timeout":
        blocks.append(f"error:\n\n```\nTimeout. No response after {timeout:g} seconds.\n```")
    elif r.status == "died":
        blocks.append(f"error:\n\n```\nThe code interpreter died. {r.message}\n```")
    return "\n\n".join(blocks)


# --- episode end and clean figures (item 3) -------------------------------------------------------------


def observation_failed(observation: str) -> bool:
    """`inference_and_execute.py` `llm_with_plugin()` (line ~80) ends the episode when the observation holds
    `error:` or `Traceback` anywhere, even in what a successful program printed."""
    return "error:" in observation or "Traceback" in observation


_FIGURE = re.compile(r"!\[fig-(.+)\]\((.+)\)")


def figures_in(gen: str) -> list[str]:
    """`metrics/visualization.py` `extract_images()`: every `![fig-..](path)` of the text whose file exists."""
    return [path for _, path in _FIGURE.findall(gen) if Path(path).exists()]


def has_clean_figure(gen: str, images: Sequence[str]) -> bool:
    """`metrics/visualization.py` `check_images_observation()`: a figure counts when the text from the last
    `\\nObservation:` before it up to it holds neither `error:` nor `Traceback`."""
    for image in images:
        end = gen.find(image)
        upto = gen[: end + len(image)]
        start = upto.rfind("\nObservation:")
        check = upto[start + len("\nObservation:") :]
        if "error:" not in check and "Traceback" not in check:
            return True
    return False


# --- GSM8K gold (item 4) --------------------------------------------------------------------------------


def exact_gold(answer: str) -> float | int:
    """OUR RULE (`--gold exact`): the number after GSM8K's `#### `, thousands commas dropped."""
    _, sep, tail = answer.rpartition("#### ")
    if not sep:
        raise ValueError("GSM8K answer without a '#### ' line")
    s = tail.strip().replace(",", "")
    return float(s) if "." in s else int(s)


# --- General executability (item 1) ---------------------------------------------------------------------

# `metrics/code_execution.py` `pre_load` (lines ~15-33), in our words: go to the upload folder unless the
# working directory already names it, import seaborn, matplotlib (interactive mode on), numpy, pandas, sympy's
# Eq/symbols/solve, re, json, math. Our sandbox starts in a folder named `upload_file`, so the chdir is skipped.
PRE_LOAD = """
import os
if 'upload_file' not in os.getcwd():
    os.chdir("./workspace/upload_file/")
import seaborn as sns
import matplotlib
import matplotlib.pyplot as plt
plt.ion()
import numpy as np
import pandas as pd
from sympy import Eq, symbols, solve
import re
import json
import math
"""


def first_action_input_code(text: str, extract_code) -> str:
    """`metrics/code_execution.py` `get_action_input_code(text, extract_first_code=True)` (lines ~85-105): the
    first `\\nAction Input:` up to the first `\\nObservation:` (the end of the text when there is none), its
    code behind a `#concat` line, `/mnt/data/` and `/path/to/` removed. '' when the text has no Action Input;
    an empty Action Input still gives the non-empty `#concat` text, as published."""
    text += "\n"
    start = text.find("\nAction Input:")
    if start < 0:
        return ""
    end = text.find("\nObservation:")
    action_input = text[start + len("\nAction Input:") : end].strip()
    code = extract_code(action_input).replace("/mnt/data/", "").replace("/path/to/", "")
    return "#concat\n" + code + "\n\n"


def general_check_code(gen: str, query: str, extract_code) -> str:
    """The program the published General metric `exec()`s for one case (`postprocess_code`, lines ~60-80):
    an easy case's given first code before the model's, `solution()` called when defined, figures closed,
    `PRE_LOAD` in front. '' when the generation has no Action Input (missing code)."""
    code = first_action_input_code(gen, extract_code)
    if not code:
        return ""
    if "<|im_start|>" in query:
        code = _all_action_input_code(query, extract_code) + code
    if "def solution()" in code:
        code += "\nsolution()\n"
    if "plt.show()" in code:
        code += "\nplt.pause(1)\nplt.close('all')\n"
    if "sns." in code and "plot" in code:
        code += "\nplt.close('all')\n"
    return PRE_LOAD + code


def _all_action_input_code(text: str, extract_code) -> str:
    """`get_action_input_code(text)` with every Action Input of the text, as published for the given round."""
    text += "\n"
    code = ""
    while (start := text.find("\nAction Input:")) >= 0:
        end = text.find("\nObservation:")
        piece = extract_code(text[start + len("\nAction Input:") : end].strip())
        code += "#concat\n" + piece.replace("/mnt/data/", "").replace("/path/to/", "") + "\n\n"
        if end < 0:
            break
        text = text[end + len("\nObservation:") :]
    return code
