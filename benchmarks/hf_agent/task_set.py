"""The HF Agent evaluation set as data: problems, conversations and the 14 fake test tools.

The set is read from a JSON file the user passes (see docs/hf-agent.md for how to produce it from a
transformers<=4.50 source tree with `python -m benchmarks.extract_hf_agent_tasks`). Layout:

    {"run":   [problem, ...],
     "chat":  [[problem, ...], ...],          # one list of steps per conversation
     "tools": {name: {"args": ["text", "seconds=2"], "returns": "template {text}", "requires": {arg: word},
                     "description": "optional: the text the prompt's tool list shows"}}}

A problem is {"task": str | [phrasings], "inputs": [names] | {name: value}, "answer": code | [codes]}.
"""

from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qwen_agent.errors import ConfigurationError
from qwen_agent.tools import Tool

#: which argument of which fake tool must contain which word, else the tool raises ValueError
#: (transformers' fake tools, v4.35.2 `tools/evaluate_agent.py` lines 21-84: `image_segmenter` does not raise;
#: the data's own "requires" entries are added to these)
RAISING_RULES: dict[str, dict[str, str]] = {
    "image_captioner": {"image": "image"},
    "image_transformer": {"image": "image"},
    "image_qa": {"image": "image"},
    "transcriber": {"audio": "sound"},
}

#: what the agent's prompt says about each tool (written for this project)
TOOL_DESCRIPTIONS: dict[str, str] = {
    "document_qa": "Answers a `question` about a document given as an `image` (a scanned page, a PDF page); "
    "returns the answer as text",
    "image_captioner": "Writes a short English description of what an `image` shows; returns the text",
    "image_generator": "Draws an image that matches an English text `prompt`; returns the image",
    "image_qa": "Answers a `question` about what an `image` shows; returns the answer as text",
    "image_segmenter": "Finds the object a text `prompt` names in an `image` and returns its mask, an image",
    "image_transformer": "Changes an `image` as a text `prompt` describes (e.g. 'make it snowy'); returns the "
    "new image",
    "summarizer": "Shortens an English `text` into a summary; returns the summary",
    "text_classifier": "Sorts an English `text` into one of the given `labels` (a list of strings); returns "
    "the label that fits best",
    "text_downloader": "Downloads the page or file at a `url`; returns its text",
    "text_qa": "Answers a `question` about an English `text`; returns the answer",
    "text_reader": "Reads an English `text` out loud; returns the audio",
    "transcriber": "Turns speech in an `audio` recording into text; returns the transcript",
    "translator": "Translates a `text` from `src_lang` to `tgt_lang` (languages given by their English name, "
    "e.g. 'French'); returns the translation",
    "video_generator": "Makes a short video showing a text `prompt`, `seconds` long (default 2); returns "
    "the video",
}


@dataclass(frozen=True)
class Problem:
    """One step to solve: a phrasing of the task, the inputs bound for it, and the reference code(s)."""

    task: str
    inputs: list[str] | dict[str, str]
    answer: str | list[str]


@dataclass(frozen=True)
class Item:
    """One scored unit: a run-mode phrasing, or one step of one phrasing of a conversation."""

    id: str
    problem: Problem
    conversation: str | None = None  # chat mode: the id shared by the steps of one conversation


@dataclass(frozen=True)
class TaskSet:
    run: list[Item]
    chat: list[Item]
    tools: dict[str, dict[str, Any]]


def load_task_set(path: str | Path) -> TaskSet:
    """Read and check the evaluation set; a malformed file raises ConfigurationError naming the problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"HF Agent task file not found: {path} (see docs/hf-agent.md)") from None
    except json.JSONDecodeError as e:
        raise ConfigurationError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict) or not all(k in data for k in ("run", "chat", "tools")):
        raise ConfigurationError(f"{path} must be a JSON object with keys 'run', 'chat' and 'tools'")
    return TaskSet(run=_run_items(data["run"]), chat=_chat_items(data["chat"]), tools=data["tools"])


def _phrasings(raw: dict[str, Any], where: str) -> list[str]:
    for key in ("task", "inputs", "answer"):
        if key not in raw:
            raise ConfigurationError(f"{where}: missing {key!r}")
    task = raw["task"]
    phrasings = [task] if isinstance(task, str) else task
    if not phrasings or not all(isinstance(t, str) for t in phrasings):
        raise ConfigurationError(f"{where}: 'task' must be a string or a non-empty list of strings")
    return phrasings


def _problem(raw: dict[str, Any], task: str) -> Problem:
    return Problem(task=task, inputs=raw["inputs"], answer=raw["answer"])


def _run_items(problems: list[dict[str, Any]]) -> list[Item]:
    items = []
    for p, raw in enumerate(problems):
        for j, task in enumerate(_phrasings(raw, f"run[{p}]")):
            items.append(Item(id=f"run/{p}/{j}", problem=_problem(raw, task)))
    return items


def _chat_items(conversations: list[list[dict[str, Any]]]) -> list[Item]:
    items = []
    for c, steps in enumerate(conversations):
        counts = {len(_phrasings(raw, f"chat[{c}][{s}]")) for s, raw in enumerate(steps)}
        if len(counts) != 1:
            raise ConfigurationError(f"chat[{c}]: every step needs the same number of phrasings, got {counts}")
        for k in range(counts.pop()):
            for s, raw in enumerate(steps):
                task = _phrasings(raw, f"chat[{c}][{s}]")[k]
                items.append(Item(id=f"chat/{c}/{k}/{s}", problem=_problem(raw, task), conversation=f"{c}/{k}"))
    return items


def fake_tool_functions(specs: dict[str, dict[str, Any]]) -> dict[str, Callable[..., str]]:
    """The fake test tools, by name: each formats its return template, after its `requires` checks."""
    return {name: _fake_function(name, spec) for name, spec in specs.items()}


def _fake_function(name: str, spec: dict[str, Any]) -> Callable[..., str]:
    signature = inspect.Signature([_parameter(arg) for arg in spec["args"]])
    rules = {**RAISING_RULES.get(name, {}), **spec.get("requires", {})}
    template: str = spec["returns"]

    def fake(*args: Any, **kwargs: Any) -> str:
        bound = signature.bind(*args, **kwargs)  # TypeError on a wrong call, as a real function would
        bound.apply_defaults()
        for arg, word in rules.items():
            if word not in bound.arguments[arg]:
                raise ValueError(f"`{arg}` ({bound.arguments[arg]}) is not a {word}.")
        return template.format(**bound.arguments)

    fake.__name__ = name
    fake.__signature__ = signature  # type: ignore[attr-defined]
    return fake


def _parameter(arg: str) -> inspect.Parameter:
    name, eq, default = arg.partition("=")
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if not eq:
        return inspect.Parameter(name, kind)
    return inspect.Parameter(name, kind, default=ast.literal_eval(default))


class FakeTool(Tool):
    """A fake test tool as a qwen_agent Tool, so that `HfAgent` can list it in its prompt."""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.description = spec.get("description") or TOOL_DESCRIPTIONS.get(name, f"The {name} tool")
        params = [_parameter(a) for a in spec["args"]]
        self.parameters = {
            "type": "object",
            "properties": {p.name: {} for p in params},
            "required": [p.name for p in params if p.default is inspect.Parameter.empty],
        }
        self._function = _fake_function(name, spec)

    def run(self, **kwargs: Any) -> str:
        return self._function(**kwargs)


def fake_tools(specs: dict[str, dict[str, Any]]) -> list[Tool]:
    return [FakeTool(name, spec) for name, spec in specs.items()]


def given_tools_description(specs: dict[str, dict[str, Any]]) -> str | None:
    """When every tool of the file has a "description", the prompt's tool list as transformers wrote it
    (`- name: description` per line); else None, and the agent describes the tools itself."""
    if not specs or not all(isinstance(spec.get("description"), str) for spec in specs.values()):
        return None
    return "\n".join(f"- {name}: {spec['description']}" for name, spec in specs.items())
