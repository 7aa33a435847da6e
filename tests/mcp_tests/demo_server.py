"""A real MCP server written with the `mcp` SDK, for the client tests: `python demo_server.py [stdio|http PORT]`.

Tools: add, echo, fail (an isError result), slow, crash_once (the process exits mid-call the first time, marked
by a file), image (a PNG), env (reads a variable), plus one resource. Its stderr says it started.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import ImageContent, TextContent

# A 1x1 red PNG.
PNG = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
server = MCPServer("demo")


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.tool()
def fail(reason: str) -> str:
    """Always fails, with the reason."""
    raise ToolError(f"cannot do that: {reason}")


@server.tool()
def slow(seconds: float) -> str:
    """Sleep, then say so."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool()
def crash_once(marker: str) -> str:
    """Exit the whole server mid-call the first time (the marker file records it), answer afterwards."""
    if not Path(marker).exists():
        Path(marker).write_text("crashed")
        print("crash_once: exiting mid-call", file=sys.stderr, flush=True)
        os._exit(3)
    return "alive again"


@server.tool()
def image() -> list:
    """A tiny PNG and a caption."""
    return [TextContent(type="text", text="a red pixel"),
            ImageContent(type="image", data=base64.b64encode(PNG).decode(), mime_type="image/png")]


@server.tool()
def env(name: str) -> str:
    """The value of an environment variable of the server, or '(unset)'."""
    return os.environ.get(name, "(unset)")


@server.tool()
def pid() -> int:
    """The server's process id."""
    return os.getpid()


@server.resource("demo://greeting", description="a greeting", mime_type="text/plain")
def greeting() -> str:
    return "hello from the demo resource"


if __name__ == "__main__":
    print("demo server starting", file=sys.stderr, flush=True)
    if len(sys.argv) > 1 and sys.argv[1] == "http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    elif len(sys.argv) > 1 and sys.argv[1] == "sse":
        server.run("sse", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run("stdio")
