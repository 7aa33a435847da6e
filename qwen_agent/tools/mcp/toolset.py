"""MCPToolset: the tools of one or more MCP servers as `Tool`s, over one background event loop.

    with MCPToolset.from_config("mcp.json") as mcp:
        agent = Agent(llm, tools=[mcp, my_function])

Names stay as each server gives them; a name offered by two servers becomes `<server>-<name>` for both.
Servers start when their tools are first needed (or all at once with `start()`, which raises a clear
`MCPServerError` naming the failing server and its stderr tail); `close()` stops every server process.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from qwen_agent.errors import ConfigurationError, MCPToolError, MissingDependencyError
from qwen_agent.llm.base import LLM
from qwen_agent.tools.base import Tool, ToolProvider
from qwen_agent.tools.mcp.config import MCPServerConfig, load_mcp_config, parse_mcp_config
from qwen_agent.tools.mcp.connection import ServerConnection
from qwen_agent.tools.mcp.content import ContentWriter
from qwen_agent.tools.mcp.loop import LoopThread
from qwen_agent.tools.mcp.sampling import sampling_callback

logger = logging.getLogger(__name__)
_BAD_CHARS = re.compile(r"[^A-Za-z0-9_\-.]")
ProgressHook = Callable[[str, str, float, "float | None", "str | None"], None]


class MCPToolset(ToolProvider):
    """Tools from MCP servers, given as `MCPServerConfig`s or one `{"mcpServers": {...}}` mapping.

    Args:
        servers: the servers (configs), or an `{"mcpServers": ...}` mapping.
        output_dir: where images and binary results are saved (default: a temporary dir removed on close).
        max_result_chars: longer results are cut in the middle before they reach the agent.
        sampling_llm: answer the servers' sampling requests (`sampling/createMessage`) with this model; without
            it the sampling capability is not offered.
        on_progress: called as `on_progress(server, tool, progress, total, message)` for each progress
            notification of a running tool call (from the event loop's thread: return quickly).
    """

    def __init__(self, servers: Iterable[MCPServerConfig] | Mapping[str, Any], *, output_dir: str | Path | None = None,
                 max_result_chars: int = 100_000, sampling_llm: LLM | None = None,
                 on_progress: ProgressHook | None = None) -> None:
        if importlib.util.find_spec("mcp") is None:
            raise MissingDependencyError("mcp", "mcp", "Using MCP servers")
        configs = parse_mcp_config(servers) if isinstance(servers, Mapping) else list(servers)
        names = [c.name for c in configs]
        if len(set(names)) != len(names):
            raise ConfigurationError(f"two MCP servers share a name: {sorted(n for n, k in Counter(names).items() if k > 1)}")
        self._own_dir = Path(tempfile.mkdtemp(prefix="qwen-agent-mcp-"))
        self.output_dir = Path(output_dir) if output_dir is not None else self._own_dir / "files"
        self._writer = ContentWriter(self.output_dir, max_result_chars)
        sampling = sampling_callback(sampling_llm) if sampling_llm is not None else None
        self._connections = {c.name: ServerConnection(c, self._own_dir, sampling) for c in configs}
        self._on_progress = on_progress
        self._loop: LoopThread | None = None
        self._lock = threading.RLock()
        self._tools: list[Tool] | None = None
        self._closed = False
        self.problems: list[str] = []

    @classmethod
    def from_config(cls, source: str | Path | Mapping[str, Any], **kwargs: Any) -> MCPToolset:
        """From a config file path or an `{"mcpServers": ...}` mapping."""
        configs = parse_mcp_config(source) if isinstance(source, Mapping) else load_mcp_config(source)
        return cls(configs, **kwargs)

    @property
    def servers(self) -> list[str]:
        return list(self._connections)

    # --- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> MCPToolset:
        """Start every server now; raises MCPServerError naming the first that fails (the others are stopped;
        the toolset stays usable, e.g. to try again)."""
        try:
            for conn in self._connections.values():
                self._run(conn.ensure_started(), conn.config.startup_timeout + 5)
        except BaseException:
            self._stop_servers()
            raise
        return self

    def tools(self) -> list[Tool]:
        """The servers' tools (starting the servers that are not running)."""
        with self._lock:
            if self._tools is None:
                self.start()
                self._tools = self._make_tools()
            return list(self._tools)

    def close(self) -> None:
        """Stop every server (their whole process trees) and the event loop; idempotent."""
        with self._lock:
            self._stop_servers()
            self._closed = True
            loop, self._loop = self._loop, None
            if loop is not None:
                loop.close()
            shutil.rmtree(self._own_dir, ignore_errors=True)

    def _stop_servers(self) -> None:
        if self._loop is None:
            return
        for conn in self._connections.values():
            try:
                self._loop.run(conn.stop(), time.monotonic() + 15)
            except Exception as exc:  # noqa: BLE001 - keep stopping the others
                logger.warning("stopping MCP server %r: %s", conn.config.name, exc)

    def __enter__(self) -> MCPToolset:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten toolset still stops its servers (at exit, the supervisors do)
        if getattr(self, "_loop", None) is not None and not sys.is_finalizing():
            self.close()

    # --- calls --------------------------------------------------------------------------------------------
    def request(self, server: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """`ClientSession.<method>(*args, **kwargs)` on `server`, within its deadline (restarting it once if it
        crashed)."""
        from mcp import MCPError

        conn = self._connections[server]
        budget = conn.config.timeout + (0 if conn.running else conn.config.startup_timeout)
        try:
            return self._run(conn.request(method, *args, **kwargs), budget)
        except TimeoutError:
            raise MCPToolError(f"MCP server {server!r} did not answer {method} within {budget:g} s; "
                               "the request was cancelled") from None
        except MCPError as exc:  # a JSON-RPC error reply: about this request, the server lives on
            raise MCPToolError(f"MCP server {server!r} answered {method} with an error: {exc.message}") from None

    def call_tool(self, server: str, name: str, arguments: dict[str, Any]) -> str:
        """Run one tool; returns the observation text, or raises MCPToolError for an `isError` result."""
        progress = None
        if self._on_progress is not None:
            hook = self._on_progress

            async def progress(done: float, total: float | None, message: str | None) -> None:
                hook(server, name, done, total, message)

        result = self.request(server, "call_tool", name, arguments, progress_callback=progress)
        text = self._writer.result_text(result)
        if result.is_error:
            raise MCPToolError(text or f"the MCP tool {name!r} failed without a message")
        return text

    def _run(self, coro: Any, seconds: float) -> Any:
        if self._closed:
            coro.close()
            raise ConfigurationError("this MCPToolset is closed; make a new one to start its servers again")
        if self._loop is None:
            self._loop = LoopThread()
        return self._loop.run(coro, time.monotonic() + seconds)

    # --- tools --------------------------------------------------------------------------------------------
    def _make_tools(self) -> list[Tool]:
        offered: list[tuple[type[MCPTool], str, Any]] = []  # tool class, server, MCP tool (or resource entry)
        for server, conn in self._connections.items():
            for t in conn.tools:
                problem = _schema_problem(t.input_schema)
                if problem:
                    self._problem(f"MCP server {server!r}: tool {t.name!r} left out, its input schema is invalid: {problem}")
                    continue
                offered.append((MCPTool, server, t))
            if conn.has_resources:
                offered += [(ResourceTool, server, entry) for entry in _RESOURCE_TOOLS]
        counts = Counter(_clean(t.name) for _, _, t in offered)
        return [kind(self, server, t.name, _clean(t.name) if counts[_clean(t.name)] == 1 else _clean(f"{server}-{t.name}"),
                     t.description or "", t.input_schema)
                for kind, server, t in offered]

    def _problem(self, text: str) -> None:
        logger.warning("%s", text)
        self.problems.append(text)


class MCPTool(Tool):
    """One tool of an MCP server; `run` calls it through the toolset."""

    def __init__(self, toolset: MCPToolset, server: str, remote_name: str, name: str, description: str,
                 parameters: dict[str, Any]) -> None:
        self.toolset, self.server, self.remote_name = toolset, server, remote_name
        self.name, self.description, self.parameters = name, description, parameters

    def run(self, **kwargs: Any) -> str:
        return self.toolset.call_tool(self.server, self.remote_name, kwargs)


class ResourceTool(MCPTool):
    """`list_resources` / `read_resource` of a server that offers resources."""

    def run(self, **kwargs: Any) -> str:
        if self.remote_name == "list_resources":
            listed = self.toolset.request(self.server, "list_resources").resources
            lines = [f"{r.uri}  {r.name}" + (f" ({r.mime_type})" if r.mime_type else "")
                     + (f": {r.description}" if r.description else "") for r in listed]
            return "\n".join(lines) or f"MCP server {self.server!r} has no resources."
        result = self.toolset.request(self.server, "read_resource", kwargs["uri"])
        return "\n".join(self.toolset._writer.resource_text(c) for c in result.contents)


class _ResourceEntry(NamedTuple):
    name: str
    description: str
    input_schema: dict[str, Any]


_RESOURCE_TOOLS = [
    _ResourceEntry("list_resources", "List the resources (files, records, documents) this MCP server offers: "
                   "URI, name, type.", {"type": "object", "properties": {}}),
    _ResourceEntry("read_resource", "Read one resource of this MCP server by its URI (see list_resources).",
                   {"type": "object", "properties": {"uri": {"type": "string", "description": "the resource's URI"}},
                    "required": ["uri"]}),
]


def _clean(name: str) -> str:
    """A name our tool contract accepts: letters, digits, `_-.`, not starting with a digit, at most 64 chars."""
    clean = _BAD_CHARS.sub("_", name)
    if not clean or not (clean[0].isalpha() or clean[0] == "_"):
        clean = "_" + clean
    return clean[:64]


def _schema_problem(schema: Any) -> str | None:
    import jsonschema

    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        return "it must be a JSON object schema with type 'object'"
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return exc.message
    return None
