"""A scripted test double that answers by rule instead of replaying a list: `ScriptedPolicyLLM`.

LangChain's integration suite asks a model for many things in an order of its own (a greeting, a forced call
to `magic_function(3)`, a joke as JSON, ...). A replayed script cannot follow that, and a real model on this
CPU is too slow for ~80 tests, so this double reads the prompt the server rendered in the Hermes format and
writes what a well-behaved Qwen2.5 would, by fixed rules anyone can check by hand:

- a forced call (the turn starts with `<tool_call>`): continue it, naming the forced tool or choosing one;
- tool results in the last user turn: a text answer quoting them (JSON when a JSON answer was asked for);
- tools offered: call the tools named in the question (else the one whose name and description share the
  most words with it); no overlap: answer in text;
- a JSON answer asked for (`qwen_agent.integrations.response_format`'s instruction): one object, filled by
  the schema, or keyed by the words the question quotes ('setup' and 'punchline');
- otherwise: a text reply that repeats the question.

Arguments come from the question: integers from its numbers in order, strings from its quoted text, then the
place after " in ", then the tool results, then the question itself. Nothing is random.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from qwen_agent.formats.hermes import CALL_CLOSE, CALL_OPEN
from qwen_agent.integrations.response_format import JSON_OBJECT_INSTRUCTION
from qwen_agent.llm.base import LLM, Prompt
from qwen_agent.schema import Chunk, Generation, GenerationConfig, Message, Usage

_TOOLS = re.compile(r"<tools>\n(.*?)\n</tools>", re.DOTALL)
_RESPONSE = re.compile(r"<tool_response>\n(.*?)\n</tool_response>", re.DOTALL)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")
_PLACE = re.compile(r"\bin ([^?!.]+)")
_WORD = re.compile(r"[a-z]{4,}")


class ScriptedPolicyLLM(LLM):
    """Writes Hermes-format replies by the rules in the module docstring; records every prompt it read."""

    model_name = "scripted-policy"

    def __init__(self, chunk_size: int = 4) -> None:
        super().__init__()
        self.chunk_size = chunk_size
        self.prompts: list[Prompt] = []

    def _generate(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Generation:
        self.prompts.append(prompt)
        text = reply(prompt)
        return Generation(text=text, finish_reason="stop", usage=Usage(completion_tokens=math.ceil(len(text) / 4)))

    def _stream(self, prompt: Prompt, stop: list[str], config: GenerationConfig) -> Iterator[Chunk]:
        gen = self._generate(prompt, stop, config)
        for i in range(0, len(gen.text), self.chunk_size):
            yield Chunk(text=gen.text[i : i + self.chunk_size])
        yield Chunk(finish_reason="stop", usage=gen.usage)


def reply(prompt: Prompt) -> str:
    """The text this policy writes after `prompt` (see the module docstring)."""
    if isinstance(prompt, str):
        return f"You said: {prompt.strip()}"
    messages = list(prompt)
    system = messages[0].content or "" if messages[0].role == "system" else ""
    tools = [json.loads(line)["function"] for m in _TOOLS.findall(system) for line in m.splitlines()]
    question = _question(messages)
    results = _RESPONSE.findall(_last_user(messages))
    if messages[-1].role == "assistant":
        return _continue_call(messages[-1].content or "", tools, question, _Values(question, results))
    answer_json = _json_answer(system, question, _Values(question, results))
    if results:
        return answer_json if answer_json is not None else "The tool answered: " + "; ".join(results)
    chosen = _named_tools(tools, question) or _closest_tool(tools, question)
    if chosen:
        values = _Values(question, results)
        return "\n".join(_call_text(t, values) for t in chosen)
    return answer_json if answer_json is not None else f"You said: {question}"


def _last_user(messages: list[Message]) -> str:
    return next((m.content or "" for m in reversed(messages) if m.role == "user"), "")


def _question(messages: list[Message]) -> str:
    """The last user turn that is a question, not tool results."""
    asked = [m.content or "" for m in messages if m.role == "user" and not _RESPONSE.search(m.content or "")]
    return asked[-1].strip() if asked else ""


def _continue_call(prefill: str, tools: list[dict[str, Any]], question: str, values: _Values) -> str:
    body = prefill[prefill.rindex(CALL_OPEN) + len(CALL_OPEN) :] if CALL_OPEN in prefill else ""
    named = re.search(r'"name": "([^"]+)"', body)
    if named:  # the arguments of the forced tool, then the end of the call
        tool = next(t for t in tools if t["name"] == named.group(1))
        return json.dumps(_arguments(tool, values), ensure_ascii=False) + "}\n" + CALL_CLOSE
    tool = (_named_tools(tools, question) or _closest_tool(tools, question) or tools)[0]
    return _call_text(tool, values)[len(CALL_OPEN) + 1 :]


def _named_tools(tools: list[dict[str, Any]], question: str) -> list[dict[str, Any]]:
    found = [(question.find(t["name"]), t) for t in tools if re.search(rf"\b{re.escape(t['name'])}\b", question)]
    return [t for _, t in sorted(found, key=lambda pair: pair[0])]


def _closest_tool(tools: list[dict[str, Any]], question: str) -> list[dict[str, Any]]:
    asked = set(_WORD.findall(question.lower()))
    scored = [(len(asked & set(_WORD.findall(f"{t['name']} {t.get('description', '')}".lower()))), t) for t in tools]
    best = max(scored, key=lambda pair: pair[0], default=(0, None))
    return [best[1]] if best[0] > 0 else []


def _call_text(tool: dict[str, Any], values: _Values) -> str:
    call = {"name": tool["name"], "arguments": _arguments(tool, values)}
    return f"{CALL_OPEN}\n{json.dumps(call, ensure_ascii=False)}\n{CALL_CLOSE}"


def _arguments(tool: dict[str, Any], values: _Values) -> dict[str, Any]:
    return _fill(tool.get("parameters") or {}, values)


def _fill(schema: dict[str, Any], values: _Values) -> dict[str, Any]:
    """An object for `schema`: its required properties (all of them when none is marked required)."""
    props = schema.get("properties") or {}
    wanted = schema.get("required") or list(props)
    return {name: values.take(props.get(name) or {}) for name in wanted}


def _json_answer(system: str, question: str, values: _Values) -> str | None:
    if "JSON schema:\n" in system:
        schema, _ = json.JSONDecoder().raw_decode(system, system.index("JSON schema:\n") + len("JSON schema:\n"))
        return json.dumps(_fill(schema, values), ensure_ascii=False)
    if JSON_OBJECT_INSTRUCTION in system:  # the keys the question names in quotes
        keys = [a or b for a, b in _QUOTED.findall(question)] or ["answer"]
        return json.dumps({k: question for k in keys}, ensure_ascii=False)
    return None


class _Values:
    """Argument values taken from the question in order: numbers, then quoted text, places, results."""

    def __init__(self, question: str, results: list[str]) -> None:
        self.question = question
        self.numbers = [float(n) for n in _NUMBER.findall(question)]
        self.texts = [a or b for a, b in _QUOTED.findall(question)]
        self.texts += [m.strip() for m in _PLACE.findall(question)] + results

    def take(self, schema: dict[str, Any]) -> Any:
        if schema.get("enum"):
            return schema["enum"][0]
        kind = schema.get("type") or next((s.get("type") for s in schema.get("anyOf", []) if s.get("type")), "string")
        if kind in ("integer", "number"):
            n = self.numbers.pop(0) if self.numbers else 0
            return int(n) if kind == "integer" else n
        if kind == "boolean":
            return True
        if kind == "array":
            return []
        if kind == "object":
            return _fill(schema, self)
        return self.texts.pop(0) if self.texts else self.question
