"""`qwen-agent mcp-server`: our sandboxed Python (and any tools you register) served over MCP.

    server = PythonMCPServer(tools=[my_function])
    server.run_stdio()                       # or: server.http_app() under uvicorn

The `python` tool runs code in a stateful, sandboxed Jupyter kernel, one per MCP session (variables, imports
and files persist across calls of one session, never across sessions); plots come back as MCP image content.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

import anyio

from qwen_agent.access import bearer_problem
from qwen_agent.errors import ConfigurationError, ToolArgumentError
from qwen_agent.interpreter import SandboxConfig
from qwen_agent.mcp_server.sessions import KernelSessions
from qwen_agent.tools.base import Tool
from qwen_agent.tools.registry import ToolRegistry

PYTHON_TOOL = "python"
PYTHON_DESCRIPTION = (
    "Run Python code in a stateful, sandboxed Jupyter kernel (no network). Variables, imports and files persist "
    "between calls of this session; files are written to the session's working directory. Returns what the code "
    "printed, the value of the last expression and errors; plots (plt.show()) come back as images."
)
PYTHON_SCHEMA = {"type": "object", "properties": {"code": {"type": "string", "description": "Python code to run"}},
                 "required": ["code"]}


class PythonMCPServer:
    """The MCP server: a `python` tool over `KernelSessions`, plus user tools (Tools or typed functions).

    Args:
        tools: more tools to serve (their names must not be `python`).
        sandbox: limits of each session's kernel.
        timeout: seconds each `python` call may run (the kernel is interrupted or replaced past it).
        pool_size: kernels kept started ahead, so a new session's first call does not wait for a start.
        max_output_chars: the text of a `python` result is cut in the middle past this size.
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = (), *, sandbox: SandboxConfig | None = None,
                 timeout: float = 60.0, pool_size: int = 1, max_output_chars: int = 20_000, name: str = "qwen-agent") -> None:
        self.tools = ToolRegistry(tools)
        if PYTHON_TOOL in self.tools:
            raise ConfigurationError(f"the tool name {PYTHON_TOOL!r} is taken by the sandboxed interpreter")
        if timeout <= 0:
            raise ConfigurationError("timeout must be positive")
        self.timeout = timeout
        self.max_output_chars = max_output_chars
        self.kernels = KernelSessions(sandbox, pool_size)
        self.server = self._make_lowlevel(name)

    def _make_lowlevel(self, name: str) -> Any:
        from mcp.server.lowlevel import Server

        return Server(name, version="1", instructions=PYTHON_DESCRIPTION, on_list_tools=self._list_tools,
                      on_call_tool=self._call_tool)

    # --- handlers -----------------------------------------------------------------------------------------
    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        from mcp_types import ListToolsResult
        from mcp_types import Tool as MCPTool

        tools = [MCPTool(name=PYTHON_TOOL, description=PYTHON_DESCRIPTION, input_schema=PYTHON_SCHEMA)]
        tools += [MCPTool(name=t.name, description=t.description, input_schema=t.parameters) for t in self.tools]
        return ListToolsResult(tools=tools)

    async def _call_tool(self, ctx: Any, params: Any) -> Any:
        arguments = dict(params.arguments or {})
        if params.name == PYTHON_TOOL:
            owner = getattr(ctx.session, "_connection", ctx.session)  # per client connection (the SDK has no public name)
            return await anyio.to_thread.run_sync(self._run_python, owner, arguments, abandon_on_cancel=True)
        if params.name not in self.tools:
            return _error(f"Unknown tool {params.name!r}. Available: {', '.join([PYTHON_TOOL, *self.tools.names])}.")
        return await anyio.to_thread.run_sync(self._run_tool, params.name, arguments, abandon_on_cancel=True)

    def _run_python(self, owner: Any, arguments: dict[str, Any]) -> Any:
        from mcp_types import CallToolResult, ImageContent, TextContent

        code = arguments.get("code")
        if not isinstance(code, str) or not code.strip():
            return _error('python needs {"code": "<python code>"} with some code in it.')
        kernel, lock = self.kernels.get(owner)
        with lock:
            result = kernel.execute(code, timeout=self.timeout)
        text = _cut(result.to_text(), self.max_output_chars)
        content: list[Any] = [TextContent(type="text", text=text)] if text else []
        for path in result.images:
            data = base64.b64encode(path.read_bytes()).decode()
            content.append(ImageContent(type="image", data=data, mime_type="image/png"))
        return CallToolResult(content=content, is_error=result.status != "ok")

    def _run_tool(self, name: str, arguments: dict[str, Any]) -> Any:
        from mcp_types import CallToolResult, TextContent

        try:
            text = self.tools.get(name).call(arguments)
        except ToolArgumentError as exc:
            return _error(str(exc))
        except Exception as exc:  # noqa: BLE001 - the client's model sees the failure
            return _error(f"{name} raised {type(exc).__name__}: {exc}")
        return CallToolResult(content=[TextContent(type="text", text=_cut(text, self.max_output_chars))])

    # --- transports ---------------------------------------------------------------------------------------
    def run_stdio(self) -> None:
        """Serve over stdin/stdout until the client closes stdin."""
        from mcp.server.stdio import stdio_server

        async def main() -> None:
            async with stdio_server() as (read, write):
                await self.server.run(read, write, self.server.create_initialization_options())

        try:
            anyio.run(main)
        finally:
            self.close()

    def http_app(self, *, api_key: str | None = None, path: str = "/mcp", host: str = "127.0.0.1") -> Any:
        """A Starlette app serving streamable HTTP at `path`; with `api_key`, requests need a Bearer token."""
        app = self.server.streamable_http_app(streamable_http_path=path, host=host)
        return app if api_key is None else _require_key(app, api_key)

    def close(self) -> None:
        """Close every session's kernel and the pool."""
        self.kernels.close()
        for t in self.tools:
            close = getattr(t, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> PythonMCPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(text: str) -> Any:
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(content=[TextContent(type="text", text=text)], is_error=True)


def _cut(text: str, limit: int) -> str:
    from qwen_agent.text import truncate_middle

    return truncate_middle(text, limit)


def _require_key(app: Any, api_key: str) -> Any:
    """ASGI middleware: 401 unless `Authorization: Bearer <api_key>` (compared in constant time)."""

    async def guarded(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            given = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin-1")
            if bearer_problem(given, api_key):
                body = b'{"error": "missing or wrong API key: send Authorization: Bearer <key>"}'
                await send({"type": "http.response.start", "status": 401,
                            "headers": [(b"content-type", b"application/json")]})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded
