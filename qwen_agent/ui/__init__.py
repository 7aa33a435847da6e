"""A chat web UI over an `Agent`: streamed answers, every step shown (tool calls, results, code, plots, files),
uploads into the code interpreter's work dir, stop, new conversation, conversations kept across reloads.

    from qwen_agent.server import ServerThread
    from qwen_agent.ui import create_ui_app
    with ServerThread(create_ui_app(agent)) as server:
        print(f"http://{server.host}:{server.port}/ui/")

Needs the `server` extra (fastapi, uvicorn), imported on first use of these names (so registering the `ui`
command, which every `qwen-agent` invocation does, never loads them). `qwen-agent ui` runs it from the command
line.
"""

from __future__ import annotations

from typing import Any

_NAMES = {"UILimits", "create_ui_app"}


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'qwen_agent.ui' has no attribute {name!r}")
    from qwen_agent.ui import app

    return getattr(app, name)


__all__ = ["UILimits", "create_ui_app"]
