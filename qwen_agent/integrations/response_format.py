"""OpenAI's `response_format` for models without constrained decoding: the instruction that asks for a JSON
answer, and the reading that takes the JSON object out of what the model wrote.

`{"type": "json_object"}` asks for one JSON object; `{"type": "json_schema", "json_schema": {"name": ...,
"schema": {...}}}` for one that matches the schema (what LangChain's `with_structured_output(method=
"json_schema")` and `create_agent`'s provider strategy bind). The answer is read tolerantly (```json fences,
prose around the object, json5) and given back as canonical JSON text, so `json.loads(message.content)` works.
Pure functions, no LangChain import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from qwen_agent.jsonish import loads_object
from qwen_agent.prompts.render import render

JSON_OBJECT_INSTRUCTION = (
    "When you give your final answer (not a tool call), write it as one JSON object and nothing else: "
    "no code fence, no text before or after it."
)
JSON_SCHEMA_INSTRUCTION = (
    JSON_OBJECT_INSTRUCTION + " The object must match the JSON schema {name} below.\n"
    "JSON schema:\n{schema}"
)


@dataclass(frozen=True)
class ResponseFormat:
    """A checked `response_format`: `schema` is None for plain JSON mode."""

    name: str = "response"
    schema: dict[str, Any] | None = None

    @classmethod
    def parse(cls, value: Any) -> ResponseFormat | None:
        """Read OpenAI's `response_format` value; None for `{"type": "text"}` or None.

        Raises:
            ValueError: any other shape, with what is accepted.
        """
        if value is None:
            return None
        kind = value.get("type") if isinstance(value, Mapping) else None
        if kind == "text":
            return None
        if kind == "json_object":
            return cls()
        if kind == "json_schema":
            spec = value.get("json_schema")
            schema = spec.get("schema") if isinstance(spec, Mapping) else None
            if not isinstance(schema, Mapping):
                raise ValueError("response_format json_schema needs {'json_schema': {'name': ..., 'schema': {...}}}")
            return cls(str(spec.get("name") or "response"), dict(schema))
        raise ValueError(f"unsupported response_format {value!r}: use type 'text', 'json_object' or 'json_schema'")

    def instruction(self) -> str:
        """What the system turn gains so the model answers in JSON."""
        if self.schema is None:
            return JSON_OBJECT_INSTRUCTION
        return render(JSON_SCHEMA_INSTRUCTION, name=self.name, schema=json.dumps(self.schema, ensure_ascii=False))

    @staticmethod
    def answer_text(content: str) -> str:
        """The JSON object in `content` as canonical JSON text; `content` unchanged when it holds none (the
        caller's parser then reports the text the model wrote)."""
        obj = loads_object(content)
        return content if obj is None else json.dumps(obj, ensure_ascii=False)
