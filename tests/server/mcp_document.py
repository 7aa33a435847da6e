"""An OpenAPI document of `qwen-agent mcp-server --transport http`, for the fuzz: MCP's streamable HTTP
transport is JSON-RPC at one path and serves no document of its own. It describes what the transport answers,
loosely where the MCP SDK chooses the body (its own error texts)."""

from __future__ import annotations

_RPC = {"type": "object", "required": ["jsonrpc", "method"], "properties": {
    "jsonrpc": {"const": "2.0"}, "id": {"type": ["integer", "string"]},
    "method": {"enum": ["initialize", "ping", "tools/list", "tools/call", "notifications/initialized"]},
    "params": {"type": "object"}}}
_RPC_ANSWER = {"type": "object", "required": ["jsonrpc"], "properties": {"jsonrpc": {"const": "2.0"}}}
_ANY_ERROR = {"application/json": {"schema": {"type": "object"}}, "text/plain": {"schema": {"type": "string"}}}

MCP_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {"title": "qwen-agent mcp-server (streamable HTTP)", "version": "1"},
    "paths": {"/mcp": {"post": {
        "operationId": "jsonRpc",
        "parameters": [{"name": "Accept", "in": "header", "required": True,
                        "schema": {"const": "application/json, text/event-stream"}}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _RPC}}},
        "responses": {
            "200": {"description": "a JSON-RPC answer",
                    "content": {"application/json": {"schema": _RPC_ANSWER},
                                "text/event-stream": {"schema": {"type": "object"}}}},
            "202": {"description": "a notification, accepted"},
            "400": {"description": "not JSON-RPC, or no session", "content": {
                "application/json": {"schema": _RPC_ANSWER}}},
            "404": {"description": "unknown session", "content": {"application/json": {"schema": _RPC_ANSWER}}},
            **{status: {"description": why, "content": _ANY_ERROR} for status, why in (
                ("401", "missing or wrong API key"), ("406", "Accept lacks a required type"),
                ("413", "body too large"), ("415", "body not sent as application/json"))},
        },
    }}},
}
