"""Dropping the JSON-Schema keywords a model copied from a tool's schema into the arguments of its call.

Small Qwen models sometimes echo the parameters schema they were shown next to the values they fill in:
`{"expression": "2 ** 20", "type": "object"}`. Such a key is dropped only when all of these hold:

- the tool is offered and its schema does not define the key as a parameter, nor accept arbitrary extra keys
  (`additionalProperties` true or a schema, `patternProperties`);
- the key is a keyword of the schema's top level (`type`, `properties`, `required`, ...);
- its value is that keyword's value in the schema, or mirrors it: `properties` mapping some of the tool's
  parameter names to sub-schemas, `required` naming some of them.

Everything else is kept exactly: a tool with a real `type` parameter keeps it, and an unknown key that is not
an echo still reaches the tool's validation, which tells the model what is wrong.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from qwen_agent.formats.json_calls import dumps_json, match_tool
from qwen_agent.schema import ToolCall, ToolSpec

log = logging.getLogger(__name__)

# The keywords a parameter's sub-schema is written with (JSON Schema 2020-12, validation and annotation).
SUBSCHEMA_KEYWORDS = frozenset({
    "type", "description", "title", "enum", "const", "default", "examples", "format", "items", "properties",
    "required", "additionalProperties", "anyOf", "oneOf", "allOf", "not", "minimum", "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems",
    "maxItems", "uniqueItems", "$ref", "nullable",
})


def without_schema_echo(calls: Sequence[ToolCall], tools: Sequence[ToolSpec]) -> tuple[ToolCall, ...]:
    """`calls`, each without the schema keywords echoed into its arguments (see the module docstring)."""
    return tuple(_clean(call, tools) for call in calls)


def _clean(call: ToolCall, tools: Sequence[ToolSpec]) -> ToolCall:
    tool = match_tool(call.name, tools) if tools else None
    args = call.parsed_arguments() if tool is not None else None
    if tool is None or not args:
        return call
    echoed = [key for key, value in args.items() if is_schema_echo(key, value, tool.parameters)]
    if not echoed:
        return call
    log.debug("dropped schema keywords %s echoed into the arguments of %s", echoed, call.name)
    kept = {k: v for k, v in args.items() if k not in echoed}
    return call.model_copy(update={"arguments": dumps_json(kept)})


def is_schema_echo(key: str, value: Any, schema: dict[str, Any]) -> bool:
    """Whether argument `key: value` is a copy of the parameters `schema`'s own keyword, not an argument."""
    props = schema.get("properties") or {}
    if not isinstance(props, dict) or key in props or key not in schema or _takes_any_key(schema):
        return False
    if value == schema[key]:
        return True
    if key == "properties":
        return _mirrors_properties(value, props)
    if key == "required":
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v in props for v in value)
    return False


def _takes_any_key(schema: dict[str, Any]) -> bool:
    extra = schema.get("additionalProperties")
    return extra is True or isinstance(extra, dict) or "patternProperties" in schema


def _mirrors_properties(value: Any, props: dict[str, Any]) -> bool:
    """`value` maps some of the schema's parameter names to sub-schemas (written with schema keywords only)."""
    if not isinstance(value, dict) or not value:
        return False
    return all(
        name in props and isinstance(sub, dict) and set(sub) <= SUBSCHEMA_KEYWORDS for name, sub in value.items()
    )
