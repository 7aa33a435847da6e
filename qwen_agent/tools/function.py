"""`@tool`: a typed Python function becomes a Tool, its schema built by pydantic from the type hints."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any, get_type_hints, overload

from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from qwen_agent.aio import run_sync
from qwen_agent.errors import ToolArgumentError, ToolDefinitionError
from qwen_agent.tools.base import Tool, check_tool_name


class FunctionTool(Tool):
    """A tool that calls a Python function. Arguments are validated (and coerced) by a pydantic model."""

    def __init__(self, func: Callable[..., Any], *, name: str | None = None, description: str | None = None,
                 name_for_human: str | None = None) -> None:
        self.func = func
        self.name = check_tool_name(name or func.__name__)
        summary, arg_docs = parse_docstring(inspect.getdoc(func) or "")
        self.description = description if description is not None else summary
        self.name_for_human = name_for_human
        self.args_model = _build_args_model(func, self.name, arg_docs)
        self.parameters = _clean_schema(self.args_model.model_json_schema())

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        try:
            model = self.args_model.model_validate(args)
        except ValidationError as e:
            details = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in e.errors()[:5]
            )
            raise ToolArgumentError(f"Invalid arguments for {self.name}: {details}. {self.usage_hint()}") from None
        return {field: getattr(model, field) for field in type(model).model_fields}

    def run(self, **kwargs: Any) -> Any:
        result = self.func(**kwargs)
        if inspect.isawaitable(result):  # an async function called from blocking code (even inside a loop)
            return run_sync(lambda: _awaited(result))
        return result

    async def arun(self, **kwargs: Any) -> Any:
        if self.is_async:
            return await self.func(**kwargs)
        return await super().arun(**kwargs)

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The decorated function stays callable as a plain function."""
        return self.func(*args, **kwargs)


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


@overload
def tool(func: Callable[..., Any], /) -> FunctionTool: ...
@overload
def tool(*, name: str | None = None, description: str | None = None,
         name_for_human: str | None = None) -> Callable[[Callable[..., Any]], FunctionTool]: ...


def tool(func: Callable[..., Any] | None = None, /, *, name: str | None = None, description: str | None = None,
         name_for_human: str | None = None) -> Any:
    """Turn a typed function into a Tool; usable as `@tool` or `@tool(name=..., description=...)`.

    The description is the docstring's first paragraph; Google-style `Args:` lines describe the parameters.
    """
    def wrap(f: Callable[..., Any]) -> FunctionTool:
        return FunctionTool(f, name=name, description=description, name_for_human=name_for_human)

    return wrap(func) if func is not None else wrap


_ARGS_HEADER = re.compile(r"^\s*(Args|Arguments|Parameters)\s*:\s*$")
_SECTION_HEADER = re.compile(r"^\s*(Returns|Raises|Yields|Examples?|Notes?)\s*:\s*$")
_ARG_LINE = re.compile(r"^\s*(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """(summary, {arg: description}) from a Google-style docstring."""
    lines = doc.splitlines()
    summary_lines: list[str] = []
    arg_docs: dict[str, str] = {}
    section = "summary"
    current: str | None = None
    for line in lines:
        if _ARGS_HEADER.match(line):
            section, current = "args", None
            continue
        if _SECTION_HEADER.match(line):
            section, current = "other", None
            continue
        if section == "summary":
            summary_lines.append(line)
        elif section == "args":
            m = _ARG_LINE.match(line)
            if m and (current is None or len(line) - len(line.lstrip()) <= _indent_of_args(lines)):
                current = m.group(1).lstrip("*")
                arg_docs[current] = m.group(2).strip()
            elif current and line.strip():
                arg_docs[current] = (arg_docs[current] + " " + line.strip()).strip()
    summary = "\n".join(summary_lines).strip().split("\n\n")[0].replace("\n", " ")
    return summary, arg_docs


def _indent_of_args(lines: list[str]) -> int:
    for i, line in enumerate(lines):
        if _ARGS_HEADER.match(line):
            for nxt in lines[i + 1 :]:
                if nxt.strip():
                    return len(nxt) - len(nxt.lstrip())
    return 0


def _build_args_model(func: Callable[..., Any], name: str, arg_docs: dict[str, str]) -> type[BaseModel]:
    from pydantic import Field

    try:
        hints = get_type_hints(func)
    except Exception as e:  # unresolvable forward references
        raise ToolDefinitionError(f"cannot read the type hints of {name}: {e}") from e
    fields: dict[str, Any] = {}
    for pname, param in inspect.signature(func).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise ToolDefinitionError(f"tool {name}: *args/**kwargs cannot be described to a model")
        annotation = hints.get(pname, Any)
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[pname] = (annotation, Field(default, description=arg_docs.get(pname)))
    return create_model(f"{name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


# JSON-Schema keywords first in the order OpenAI's examples and transformers' `get_json_schema` write them, the
# shape Qwen's function-calling data shows models; pydantic sorts them alphabetically, which puts "type" last,
# right before the model writes its arguments (a small Qwen then echoes `"type": "object"` into them).
_KEYWORD_ORDER = ("type", "description", "enum", "items", "properties", "required")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")  # name -> schema: names keep order


def _clean_schema(schema: Any) -> Any:
    """Pydantic's schema without its titles (they only add tokens to the prompt), keywords in the usual order."""
    if isinstance(schema, list):
        return [_clean_schema(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    keys = [k for k in _KEYWORD_ORDER if k in schema] + [k for k in schema if k not in _KEYWORD_ORDER]
    out: dict[str, Any] = {}
    for k in keys:
        v = schema[k]
        if k == "title" and isinstance(v, str):
            continue
        if k in _SCHEMA_MAPS and isinstance(v, dict):
            out[k] = {name: _clean_schema(sub) for name, sub in v.items()}
        else:
            out[k] = _clean_schema(v)
    return out
