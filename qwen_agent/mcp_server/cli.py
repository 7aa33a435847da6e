"""`qwen-agent mcp-server`: serve the sandboxed interpreter (and registered tools) over MCP.

Registered on the main parser by `qwen_agent.cli`; importing this module is cheap (the SDK, the kernels and
uvicorn load when the command runs).
"""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from qwen_agent.access import add_require_key_argument, is_loopback
from qwen_agent.errors import ConfigurationError


def add_mcp_server_command(subparsers: Any) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "mcp-server", help="serve sandboxed Python (and your tools) to any MCP client, over stdio or HTTP",
        description="An MCP server with a `python` tool: a stateful, sandboxed Jupyter kernel per MCP session "
        "(plots as images, files in the session's work dir), plus the tools you register.")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--host", default="127.0.0.1", help="HTTP address (non-loopback needs --require-key)")
    parser.add_argument("--port", type=int, default=8765)
    add_require_key_argument(parser, what="HTTP: 'Authorization: Bearer <key>'")
    parser.add_argument("--tool", action="append", default=[], metavar="MODULE:NAME",
                        help="serve a Tool or typed function importable as MODULE:NAME (repeatable)")
    parser.add_argument("--mcp-config", action="append", default=[], metavar="FILE",
                        help="also serve the tools of the MCP servers in FILE (repeatable)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per python call (default 60)")
    parser.add_argument("--pool-size", type=int, default=1, help="kernels started ahead (default 1)")
    parser.add_argument("--memory-mb", type=int, default=2048, help="memory limit of each kernel")
    parser.add_argument("--max-disk-mb", type=int, default=None, help="disk quota of each session's files")
    parser.add_argument("--network", action="store_true", help="give the kernels network access")
    parser.add_argument("--log-level", default="warning")
    parser.set_defaults(func=run_mcp_server)
    return parser


def import_tool(spec: str) -> Any:
    """The object named by `module:attribute`."""
    module, _, attr = spec.partition(":")
    if not module or not attr:
        raise ConfigurationError(f"--tool takes MODULE:NAME, got {spec!r}")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import tool {spec!r}: {exc}") from None


def check_exposure(host: str, api_key: str | None) -> None:
    if not api_key and not is_loopback(host):
        raise ConfigurationError(f"refusing to serve sandboxed Python on {host!r} without --require-key: anyone "
                                 "who can reach the port could run code. Use 127.0.0.1 or set --require-key.")


def run_mcp_server(args: argparse.Namespace) -> int:
    from qwen_agent.interpreter import SandboxConfig
    from qwen_agent.mcp_server.app import PythonMCPServer
    from qwen_agent.tools.mcp import MCPToolset

    if args.transport == "http":
        check_exposure(args.host, args.require_key)
    tools = [import_tool(spec) for spec in args.tool] + [MCPToolset.from_config(f) for f in args.mcp_config]
    sandbox_args = {"memory_mb": args.memory_mb, "network": args.network}
    if args.max_disk_mb is not None:
        sandbox_args["max_disk_mb"] = args.max_disk_mb
    server = PythonMCPServer(tools, sandbox=SandboxConfig(**sandbox_args), timeout=args.timeout,
                             pool_size=args.pool_size)
    if args.transport == "stdio":
        server.run_stdio()
        return 0
    import uvicorn

    try:
        app = server.http_app(api_key=args.require_key, host=args.host)
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=5)
    finally:
        server.close()
    return 0
