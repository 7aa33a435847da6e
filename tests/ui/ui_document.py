"""An OpenAPI document of the web UI's API (/ui/api/...), for the fuzz in tests/server/test_fuzz.py: the UI app
serves no document of its own. Conversation ids are made by the running server, so the document is built around
one it made: positive requests use that id, negative ones any other string (and get 404)."""

from __future__ import annotations

_ERROR = {"application/json": {"schema": {"type": "object", "required": ["error"],
                                          "properties": {"error": {"type": "string"}}}}}
_INVALID = {"application/json": {"schema": {"type": "object", "required": ["detail"]}}}  # FastAPI's own 422


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _object(**properties: dict) -> dict:
    return {"type": "object", "required": list(properties), "properties": properties}


def _errors(*statuses: str) -> dict:
    why = {"400": "bad JSON, or a value the API refuses", "401": "wrong access key",
           "403": "no X-Requested-By header, or a Host that is not loopback", "404": "unknown conversation or file",
           "405": "a file name with a folder in it (it matches the download route only)",
           "409": "the conversation is still answering", "413": "the message or upload is over its limit"}
    answers = {s: {"description": why[s], "content": _ERROR} for s in statuses}
    if "405" in answers:  # Starlette's own answer
        answers["405"]["content"] = _json({"type": "object"})
    return answers


def _operation(op_id: str, ok: dict, *errors: str, body: dict | None = None, params: list | None = None) -> dict:
    operation = {"operationId": op_id, "responses": {"200": {"description": "done", "content": ok}, **_errors(*errors)}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": body}
    if params:
        operation["parameters"] = params
        if any(p["in"] == "query" for p in params):
            operation["responses"]["422"] = {"description": "a query value of the wrong type", "content": _INVALID}
    return operation


_FILE = _object(name={"type": "string"}, size={"type": "integer", "minimum": 0}, binary={"type": "boolean"},
                url={"type": "string"}, image={"type": "boolean"})
_INFO = _object(model={"type": "string"}, tools={"type": "array", "items": {"type": "string"}},
                keyed={"type": "boolean"}, max_message_chars={"type": "integer"}, max_upload_bytes={"type": "integer"})
_EVENT = {"type": "object", "required": ["data"], "properties": {  # each event: a JSON `data`, an `id` but the last
    "data": {"type": "string", "contentMediaType": "application/json"}, "id": {"type": "string"},
    "event": {"const": "end"}}}
_NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}


def ui_document(conversation_id: str, info: dict) -> dict:
    """The document, with `conversation_id` (one the server made) as the path's only valid id, and examples one
    over the limits the server's `info` gives (random bodies seldom get that long)."""
    too_long = {"over": {"value": {"text": "y" * (info["max_message_chars"] + 1)}}}
    too_big = {"over": {"value": "z" * (info["max_upload_bytes"] + 1)}}
    cid = {"name": "cid", "in": "path", "required": True, "schema": {"enum": [conversation_id]}}
    conv = "/ui/api/conversations/{cid}"
    return {
        "openapi": "3.1.0",
        "info": {"title": "qwen-agent ui API", "version": "1"},
        "paths": {
            "/ui/api/info": {"get": _operation("info", _json(_INFO), "403")},
            "/ui/api/login": {"post": _operation("login", _json(_object(ok={"const": True})), "400", "401", "403",
                                                 body=_json(_object(key={"type": "string"})))},
            "/ui/api/conversations": {"post": _operation(
                "newConversation", _json(_object(id={"type": "string", "minLength": 1})), "403")},
            conv + "/events": {"get": _operation(
                "events", {"text/event-stream": {"schema": _EVENT}}, "403", "404",
                params=[cid, {"name": "after", "in": "query", "schema": {"type": "integer"}}])},
            conv + "/messages": {"post": _operation(
                "send", _json(_object(first={"type": "integer", "minimum": 0})), "400", "403", "404", "409", "413",
                body={"application/json": {"schema": _object(text={"type": "string", "minLength": 1}),
                                           "examples": too_long}}, params=[cid])},
            conv + "/stop": {"post": _operation("stop", _json(_object(stopping={"type": "boolean"})), "403", "404",
                                                params=[cid])},
            conv + "/files/{name}": {
                "put": _operation("upload", _json(_FILE), "400", "403", "404", "405", "413",
                                  body={"application/octet-stream": {
                                      "schema": {"type": "string", "format": "binary"}, "examples": too_big}},
                                  params=[cid, _NAME]),
                "get": _operation("download", {"*/*": {"schema": {}}}, "403", "404", params=[cid, {
                    **_NAME, "examples": {  # names the file system refuses (they once made a 500)
                        "nul": {"value": "a\x00b"}, "long": {"value": "x" * 300}, "deep": {"value": "a/" * 3000}}}]),
            },
        },
    }
