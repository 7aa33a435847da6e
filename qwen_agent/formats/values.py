"""Typing the untyped text values of XML tool calls by the offered tool's JSON schema.

Qwen3-Coder writes every parameter as text (`<parameter=n>\\n5\\n</parameter>`). The tool's schema says what it
means: integer, number, boolean, null, array or object (read as JSON, json5 or a Python literal), or a string,
kept byte for byte. A value that does not fit any type its schema allows stays the string the model wrote,
so the tool's own validation can say what is wrong. A schema without a type reads JSON objects and arrays only
(never "123" as a number); parameters the schema does not know stay strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from qwen_agent.jsonish import loads_value

_INT = re.compile(r"[-+]?\d+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class _NoFit(Exception):
    pass


def schema_types(schema: Any) -> list[str]:
    """The JSON types a schema allows, most specific first, strings last (a string accepts anything)."""
    if not isinstance(schema, dict):
        return []
    found: list[str] = []
    raw = schema.get("type")
    found += raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    for key in ("anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            found += schema_types(sub)
    if not found:  # no type given: only what is plainly an object or an array is read as one
        found += ["object"] if "properties" in schema else ["array"] if "items" in schema else ["object", "array"]
    ordered = [t for t in dict.fromkeys(found) if t != "string"]
    return ordered + (["string"] if "string" in found else [])


def convert_value(text: str, schema: Any) -> Any:
    """`text` as the value `schema` describes; `text` itself when nothing fits or the schema is unknown."""
    for kind in schema_types(schema):
        try:
            return _CONVERTERS.get(kind, _as_string)(text)
        except _NoFit:
            continue
    return text


def _as_string(text: str) -> Any:
    return text


def _as_integer(text: str) -> Any:
    s = text.strip()
    if _INT.fullmatch(s):
        return int(s)
    if _NUMBER.fullmatch(s) and float(s).is_integer():  # "7.0" for an integer
        return int(float(s))
    raise _NoFit


def _as_number(text: str) -> Any:
    s = text.strip()
    if _INT.fullmatch(s):
        return int(s)
    if _NUMBER.fullmatch(s):
        return float(s)
    raise _NoFit


def _as_boolean(text: str) -> Any:
    s = text.strip().lower()
    if s in ("true", "false"):
        return s == "true"
    raise _NoFit


def _as_null(text: str) -> Any:
    if text.strip().lower() in ("null", "none"):
        return None
    raise _NoFit


def _literal(kind: type) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            value = loads_value(text.strip())
        except ValueError:
            raise _NoFit from None
        if not isinstance(value, kind):
            raise _NoFit
        return value

    return convert


_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "string": _as_string,
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "null": _as_null,
    "array": _literal(list),
    "object": _literal(dict),
}
# Hand-written schemas often name Python types.
for _alias, _kind in {"str": "string", "int": "integer", "float": "number", "bool": "boolean", "list": "array",
                      "dict": "object"}.items():
    _CONVERTERS[_alias] = _CONVERTERS[_kind]
