"""One MCP server connection, async: start, list tools, call, restart after a crash, stop.

The transport and `ClientSession` context managers are entered and left by one owner task (anyio cancel scopes
must be left by the task that entered them); calls run in their callers' tasks over the shared session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from qwen_agent.errors import MCPServerError
from qwen_agent.tools.mcp.config import MCPServerConfig

logger = logging.getLogger(__name__)
SUPERVISOR = Path(__file__).with_name("_supervisor.py")
STDERR_CAP = 1_000_000  # bytes of a server's stderr kept on disk; the tail survives a flood
STDERR_TAIL = 2000
MESSAGE_CAP = 8_000_000  # bytes of one JSON-RPC message from a stdio server; larger replies become errors


class ServerConnection:
    """The live session with one server, (re)started on demand. Use only from the loop's thread."""

    def __init__(self, config: MCPServerConfig, log_dir: Path, sampling: Any = None) -> None:
        self.config = config
        self.sampling = sampling  # an SDK sampling callback, or None (the capability is then not offered)
        self.stderr_path = log_dir / f"{config.name}.stderr.log"
        self.session: Any = None
        self.tools: list[Any] = []
        self.has_resources = False
        self.starts = 0
        self._owner: asyncio.Task | None = None
        self._stop: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._fault: asyncio.Future | None = None  # set to a message when the server breaks the protocol

    # --- lifecycle ----------------------------------------------------------------------------------------
    async def ensure_started(self) -> None:
        """Start the server unless it is running; raises MCPServerError naming it (and its stderr tail)."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._owner is not None and not self._owner.done():
                return
            await self._start()

    async def _start(self) -> None:
        self.starts += 1
        ready: asyncio.Future = asyncio.get_running_loop().create_future()
        self._fault = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()
        self._owner = asyncio.create_task(self._hold(ready, self._stop), name=f"mcp-{self.config.name}")
        try:
            await asyncio.wait_for(asyncio.shield(ready), self.config.startup_timeout)
        except asyncio.TimeoutError:
            await self.stop()
            raise self.error(f"did not answer within {self.config.startup_timeout:g} s of starting") from None
        except BaseException:  # MCPServerError from _hold, or our caller's cancellation: no half-started server
            await self.stop()
            raise

    async def _hold(self, ready: asyncio.Future, stop: asyncio.Event) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                read, write = await stack.enter_async_context(self._transport(stack))
                from mcp import ClientSession

                session = await stack.enter_async_context(ClientSession(
                    read, write, message_handler=self._on_message, sampling_callback=self.sampling))
                await session.initialize()
                self.tools = await _list_all_tools(session)
                caps = session.server_capabilities
                self.has_resources = bool(caps and caps.resources)
                self.session = session
                ready.set_result(None)
                await stop.wait()
        except BaseException as exc:  # noqa: BLE001 - handed to the starter, or logged when running
            if not ready.done() and isinstance(exc, asyncio.CancelledError):
                ready.cancel()
            elif not ready.done():
                ready.set_exception(self.error(f"failed to start: {_describe(exc)}"))
            elif not isinstance(exc, asyncio.CancelledError):
                logger.warning("MCP server %r connection ended: %s", self.config.name, _describe(exc))
        finally:
            self.session = None

    def _transport(self, stack: contextlib.AsyncExitStack) -> Any:
        cfg = self.config
        if cfg.transport == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            errlog = stack.enter_context(open(self.stderr_path, "w", encoding="utf-8", errors="replace"))  # noqa: SIM115
            argv = [str(SUPERVISOR), str(os.getpid()), str(STDERR_CAP), str(MESSAGE_CAP), cfg.command or "", *cfg.args]
            params = StdioServerParameters(command=sys.executable, args=["-I", *argv], env=dict(cfg.env),
                                           cwd=cfg.cwd, encoding_error_handler="replace")
            return stdio_client(params, errlog=errlog)
        if cfg.transport == "sse":
            from mcp.client.sse import sse_client

            return sse_client(cfg.url, headers=dict(cfg.headers) or None, timeout=cfg.startup_timeout,
                              sse_read_timeout=max(cfg.timeout, 300.0))
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        client = httpx2.AsyncClient(headers=dict(cfg.headers), timeout=httpx2.Timeout(cfg.startup_timeout,
                                                                                      read=cfg.timeout + 5))
        stack.push_async_callback(client.aclose)
        return streamable_http_client(cfg.url, http_client=client)

    async def stop(self) -> None:
        """End the session and the server process (the SDK closes stdin, then kills the process group)."""
        owner, self._owner = self._owner, None
        if owner is None:
            return
        if self._stop is not None:
            self._stop.set()
        if self.session is None:  # still starting (stuck in initialize?): nothing to close gracefully
            owner.cancel()
        try:
            await asyncio.wait_for(asyncio.shield(owner), 10)
        except (asyncio.TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001 - best effort
            owner.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(owner, 5)

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception) and self._fault is not None and not self._fault.done():
            self._fault.set_result(f"sent a message that is not valid JSON-RPC ({_describe(message)[:300]})")

    @property
    def running(self) -> bool:
        return self._owner is not None and not self._owner.done() and self.session is not None

    # --- calls --------------------------------------------------------------------------------------------
    async def request(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """`session.<method>(*args, **kwargs)`, restarting the server once and retrying when it crashed."""
        await self.ensure_started()
        try:
            return await self._send(method, *args, **kwargs)
        except Exception as exc:
            if not self._connection_lost(exc):
                raise
            logger.warning("MCP server %r lost (%s); restarting it once", self.config.name, _describe(exc))
        tail = self.stderr_tail()
        await self.stop()
        try:
            await self.ensure_started()
            return await self._send(method, *args, **kwargs)
        except Exception as exc:
            if self._connection_lost(exc) or isinstance(exc, MCPServerError):
                raise self.error(f"crashed, and again after a restart ({_describe(exc)})", tail) from None
            raise

    async def _send(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """The request, abandoned (and the server stopped) as soon as the server breaks the protocol."""
        fault = self._fault
        call = asyncio.ensure_future(getattr(self.session, method)(*args, **kwargs))
        try:
            await asyncio.wait([call, fault], return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not call.done():
                call.cancel()
        if call.done() and not call.cancelled():
            return call.result()
        problem = fault.result()
        await self.stop()  # the stream is out of step: start afresh next time
        raise self.error(problem)

    def _connection_lost(self, exc: BaseException) -> bool:
        from mcp import MCPError
        from mcp_types import CONNECTION_CLOSED

        if isinstance(exc, MCPError):
            return exc.code == CONNECTION_CLOSED
        return isinstance(exc, (OSError, EOFError)) or type(exc).__name__ in (
            "ClosedResourceError", "BrokenResourceError", "EndOfStream")

    # --- errors -------------------------------------------------------------------------------------------
    def stderr_tail(self) -> str:
        if self.config.transport != "stdio":
            return ""
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - STDERR_TAIL))
                return f.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""

    def error(self, what: str, tail: str | None = None) -> MCPServerError:
        cfg = self.config
        target = f"{cfg.command} {' '.join(cfg.args)}".strip() if cfg.transport == "stdio" else cfg.url
        tail = self.stderr_tail() if tail is None else tail
        message = f"MCP server {cfg.name!r} ({cfg.transport}: {target}) {what}"
        if tail:
            message += f"\n--- its stderr (last lines) ---\n{tail}"
        elif cfg.transport == "stdio":
            message += " (it wrote nothing to stderr)"
        return MCPServerError(message, server=cfg.name)


async def _list_all_tools(session: Any) -> list[Any]:
    from mcp_types import PaginatedRequestParams

    result = await session.list_tools()
    tools = list(result.tools)
    while result.next_cursor:
        result = await session.list_tools(params=PaginatedRequestParams(cursor=result.next_cursor))
        tools.extend(result.tools)
    return tools


def _describe(exc: BaseException) -> str:
    inner = getattr(exc, "exceptions", None)  # an exception group from anyio's task groups
    if inner:
        return "; ".join(_describe(e) for e in inner)
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text != type(exc).__name__ else text
