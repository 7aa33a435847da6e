"""A chat web UI over an `Agent`: streamed answers, every step shown (tool calls, results, code, plots, files),
uploads into the code interpreter's work dir, stop, new conversation, conversations kept across reloads.

    from qwen_agent.server import ServerThread
    from qwen_agent.ui import create_ui_app
    with ServerThread(create_ui_app(agent)) as server:
        print(f"http://{server.host}:{server.port}/ui/")

Needs the `server` extra (fastapi, uvicorn). `qwen-agent ui` runs it from the command line.
"""

from qwen_agent.ui.app import UILimits, create_ui_app

__all__ = ["UILimits", "create_ui_app"]
