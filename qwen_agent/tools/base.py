"""The Tool contract: a name, a description, a JSON schema of arguments, and `call`.

`Tool.call(arguments)` is what the agent uses: it parses the model's raw argument text (JSON, json5, a
fenced block), validates it, runs the tool and returns the observation text. Validation failures raise
`ToolArgumentError` with a message written for the model, which the agent sends back as the observation.
`acall` is the same for asyncio: a tool with native async I/O overrides `arun`; otherwise `run` goes to a
worker thread. The agent may run several calls of one turn at once: a tool whose calls must not overlap (one
kernel, one session) sets `concurrent = False`, and one that can stop early implements `interrupt`.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from qwen_agent.aio import in_thread
from qwen_agent.errors import ToolArgumentError, ToolDefinitionError
from qwen_agent.jsonish import loads_object, loads_value, strip_code_fence
from qwen_agent.schema import ToolSpec

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-.]{0,63}$")


def check_tool_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ToolDefinitionError(f"invalid tool name {name!r}: use letters, digits, '_', '-', '.' (max 64)")
    return name


def format_result(value: Any) -> str:
    """Observation text for a tool's return value: strings as they are, anything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return str(value)


class Tool(ABC):
    """Base class of tools. Subclasses set `name`, `description`, `parameters` and implement `run`.

    Attributes:
        name: the name the model calls the tool by (letters, digits, `_`, `-`, `.`).
        description: what the tool is for, written for the model.
        parameters: a JSON schema of type object describing the keyword arguments of `run`.
        name_for_human: the name shown in Qwen's ReAct tool description (ReAct format only); defaults to `name`.
    """

    name: str = ""
    description: str = ""
    parameters: dict[str, Any] = {"type": "object", "properties": {}}
    name_for_human: str | None = None
    #: calls may run at the same time; False makes the agent run this tool's calls one after another
    concurrent: bool = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            check_tool_name(cls.name)

    @property
    def spec(self) -> ToolSpec:
        if not self.name:
            raise ToolDefinitionError(f"{type(self).__name__} has no name")
        return ToolSpec(
            name=self.name,
            description=self.description,
            parameters=self.parameters,
            name_for_human=self.name_for_human,
        )

    @abstractmethod
    def run(self, **kwargs: Any) -> Any:
        """Do the work. Raise any exception to report a failure; the agent shows it to the model."""

    def call(self, arguments: str | Mapping[str, Any]) -> str:
        """Parse and validate `arguments`, run the tool, and return the observation text."""
        return format_result(self.run(**self.parse_arguments(arguments)))

    async def acall(self, arguments: str | Mapping[str, Any]) -> str:
        """`call` for asyncio."""
        return format_result(await self.arun(**self.parse_arguments(arguments)))

    async def arun(self, **kwargs: Any) -> Any:
        """Async `run`. Override it for native async I/O; by default `run` runs in a worker thread."""
        return await in_thread(lambda: self.run(**kwargs), name=f"qwen-agent-tool-{self.name}")

    @property
    def is_async(self) -> bool:
        """Whether `arun` is native (awaited on the loop) rather than `run` in a thread."""
        return type(self).arun is not Tool.arun

    def interrupt(self) -> bool:
        """Ask a running `run` to stop; the agent calls it when it abandons a call (its deadline passed, or the
        run was cancelled). Returns whether the tool could; by default it cannot (a thread cannot be killed)."""
        return False

    # --- argument handling ----------------------------------------------------------------------------------
    def parse_arguments(self, arguments: str | Mapping[str, Any]) -> dict[str, Any]:
        """Turn the model's argument text into validated keyword arguments, or raise ToolArgumentError."""
        args = dict(arguments) if isinstance(arguments, Mapping) else self._decode(arguments)
        return self.validate(args)

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Check `args` against `parameters`. Subclasses with richer validation override this."""
        import jsonschema  # imported on first use: it is slow to import

        validator = jsonschema.Draft202012Validator(self.parameters)
        errors = sorted(validator.iter_errors(args), key=lambda e: list(e.path))
        if errors:
            details = "; ".join(_describe_schema_error(e) for e in errors[:5])
            raise ToolArgumentError(f"Invalid arguments for {self.name}: {details}. {self.usage_hint()}")
        return args

    def keyword_arguments(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        """A Python-style call's arguments as keywords: positional ones map to the parameters in schema order
        (the code agents call tools as functions). TypeError for too many, or one given twice."""
        names = list((self.parameters.get("properties") or {}).keys())
        if len(args) > len(names):
            raise TypeError(f"{self.name}() takes {len(names)} arguments ({', '.join(names)}), got {len(args)}")
        merged = dict(kwargs)
        for name, value in zip(names, args, strict=False):
            if name in merged:
                raise TypeError(f"{self.name}() got two values for argument {name!r}")
            merged[name] = value
        return merged

    def usage_hint(self) -> str:
        props = self.parameters.get("properties", {})
        return f"Expected a JSON object with keys {sorted(props)}." if props else "Expected an empty JSON object."

    def _decode(self, text: str) -> dict[str, Any]:
        if not text.strip():
            return {}
        value = loads_object(text)
        if value is not None:
            return value
        sole = self._sole_string_parameter()
        if sole is not None:  # e.g. raw code given to a tool whose one argument is `code`
            body = strip_code_fence(text.strip())
            try:
                decoded = loads_value(body)
            except ValueError:
                decoded = None
            return {sole: decoded if isinstance(decoded, str) else body}
        shown = text if len(text) <= 200 else text[:200] + "..."
        raise ToolArgumentError(
            f"the arguments for {self.name} must be a JSON object, got: {shown!r}. {self.usage_hint()}"
        )

    def _sole_string_parameter(self) -> str | None:
        props = self.parameters.get("properties", {}) or {}
        required = self.parameters.get("required", list(props))
        if len(required) == 1 and props.get(required[0], {}).get("type", "string") == "string":
            return required[0]
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


def _describe_schema_error(error: Any) -> str:
    where = ".".join(str(p) for p in error.absolute_path)
    return f"{where}: {error.message}" if where else error.message


class ToolProvider(ABC):
    """A source of several tools that share a resource (e.g. the servers of an `MCPToolset`).

    Put one in `Agent(tools=[...])` next to ordinary tools: the registry asks for `tools()` when the agent first
    needs them, and `close()` ends the shared resource.
    """

    @abstractmethod
    def tools(self) -> list[Tool]:
        """The tools, ready to call."""

    @abstractmethod
    def close(self) -> None:
        """Release what the tools share (processes, connections)."""
