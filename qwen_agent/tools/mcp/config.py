"""MCP server configuration in the ecosystem's format (Claude Desktop, Qwen-Agent, Cursor):

    {"mcpServers": {"fs": {"command": "npx", "args": ["-y", "@modelcontextprotocol/server-filesystem", "."],
                           "env": {"KEY": "value"}},
                    "web": {"url": "http://127.0.0.1:8000/mcp"},
                    "old": {"url": "http://127.0.0.1:8001/sse", "transport": "sse"}}}

A `url` entry speaks streamable HTTP unless `transport` (or `type`) says "sse", or the URL ends in `/sse`.
Our own per-server keys: `timeout` (seconds per call), `startup_timeout`, `headers` (HTTP), `cwd` (stdio).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from qwen_agent.errors import ConfigurationError

Transport = Literal["stdio", "http", "sse"]
_TRANSPORT_ALIASES = {"stdio": "stdio", "http": "http", "streamable-http": "http", "streamable_http": "http",
                      "streamableHttp": "http", "sse": "sse"}
_KNOWN_KEYS = {"command", "args", "env", "cwd", "url", "transport", "type", "headers", "timeout",
               "startup_timeout", "disabled", "description"}
_NAME_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,64}$")


@dataclass(frozen=True)
class MCPServerConfig:
    """One MCP server: a command to start (stdio) or a URL to reach (streamable HTTP or SSE).

    Attributes:
        name: the server's name; it prefixes its tools' names when two servers offer the same name.
        command: the program to start (stdio); found on PATH.
        args: its arguments.
        env: extra environment variables for it (merged over a minimal safe environment, not ours).
        cwd: its working directory.
        url: the endpoint of an HTTP server.
        transport: "stdio" (command), "http" (streamable HTTP) or "sse" (the older HTTP+SSE transport);
            None infers it: stdio for a command, sse for a URL ending in /sse, else http.
        headers: HTTP headers (e.g. an Authorization header) for "http" and "sse".
        timeout: seconds one call may take, measured by the caller.
        startup_timeout: seconds the server has to start and answer `initialize` and `tools/list`.
    """

    name: str
    command: str | None = None
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    transport: Transport | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 60.0
    startup_timeout: float = 30.0

    def __post_init__(self) -> None:
        where = f"MCP server {self.name!r}"
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise ConfigurationError(f"invalid MCP server name {self.name!r}: use letters, digits, '_', '-', '.'")
        if (self.command is None) == (self.url is None):
            raise ConfigurationError(f"{where} needs exactly one of 'command' (stdio) or 'url' (HTTP)")
        if self.transport is None:
            object.__setattr__(self, "transport", _infer_transport(self.url))
        if self.command is not None and self.transport != "stdio":
            raise ConfigurationError(f"{where} has a command, so its transport is stdio, not {self.transport!r}")
        if self.url is not None and self.transport not in ("http", "sse"):
            raise ConfigurationError(f"{where} has a url: its transport must be 'http' or 'sse'")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"{where}: url must start with http:// or https://, got {self.url!r}")
        if self.timeout <= 0 or self.startup_timeout <= 0:
            raise ConfigurationError(f"{where}: timeout and startup_timeout must be positive")
        object.__setattr__(self, "args", tuple(str(a) for a in self.args))
        object.__setattr__(self, "env", {str(k): str(v) for k, v in dict(self.env).items()})
        object.__setattr__(self, "headers", {str(k): str(v) for k, v in dict(self.headers).items()})

    @classmethod
    def from_entry(cls, name: str, entry: Mapping[str, Any], **defaults: Any) -> MCPServerConfig:
        """One entry of an `mcpServers` mapping."""
        if not isinstance(entry, Mapping):
            raise ConfigurationError(f"MCP server {name!r}: expected an object, got {type(entry).__name__}")
        unknown = sorted(set(entry) - _KNOWN_KEYS)
        if unknown:
            raise ConfigurationError(f"MCP server {name!r}: unknown keys {unknown} (known: {sorted(_KNOWN_KEYS)})")
        for key, kind in (("args", list), ("env", dict), ("headers", dict)):
            if key in entry and not isinstance(entry[key], kind):
                raise ConfigurationError(f"MCP server {name!r}: {key!r} must be a JSON {kind.__name__}")
        url = entry.get("url")
        return cls(
            name=name, command=entry.get("command"), args=tuple(entry.get("args", ())), env=entry.get("env", {}),
            cwd=entry.get("cwd"), url=url, transport=_transport(name, entry, url),
            headers=entry.get("headers", {}), timeout=float(entry.get("timeout", defaults.get("timeout", 60.0))),
            startup_timeout=float(entry.get("startup_timeout", defaults.get("startup_timeout", 30.0))),
        )


def _infer_transport(url: str | None) -> Transport:
    if url is None:
        return "stdio"
    return "sse" if url.rstrip("/").endswith("/sse") else "http"


def _transport(name: str, entry: Mapping[str, Any], url: str | None) -> Transport:
    given = entry.get("transport", entry.get("type"))
    if given is None:
        return _infer_transport(url)
    if given not in _TRANSPORT_ALIASES:
        raise ConfigurationError(f"MCP server {name!r}: unknown transport {given!r} (stdio, http or sse)")
    return _TRANSPORT_ALIASES[given]  # type: ignore[return-value]


def parse_mcp_config(data: Mapping[str, Any], **defaults: Any) -> list[MCPServerConfig]:
    """The servers of an `{"mcpServers": {...}}` mapping (entries with `"disabled": true` left out)."""
    if not isinstance(data, Mapping) or not isinstance(data.get("mcpServers"), Mapping):
        raise ConfigurationError('an MCP configuration is a JSON object {"mcpServers": {"name": {...}, ...}}')
    return [MCPServerConfig.from_entry(name, entry, **defaults)
            for name, entry in data["mcpServers"].items() if not (isinstance(entry, Mapping) and entry.get("disabled"))]


def load_mcp_config(path: str | Path, **defaults: Any) -> list[MCPServerConfig]:
    """Read an MCP configuration file (JSON)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigurationError(f"cannot read MCP configuration {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"MCP configuration {path} is not valid JSON: {exc}") from None
    try:
        return parse_mcp_config(data, **defaults)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{path}: {exc}") from None
