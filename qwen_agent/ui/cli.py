"""`qwen-agent ui`: the chat web UI from the command line.

`add_ui_command(subparsers, agent_options, build_agent)` registers the subcommand; the main CLI passes its own
agent options and agent builder, so every option `run` and `chat` take (backend, model, tools ...) works here
too. Importing this module is cheap: fastapi and uvicorn load when the command runs.
"""

from __future__ import annotations

import argparse
import sys
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qwen_agent.access import add_require_key_argument, is_loopback
from qwen_agent.errors import ConfigurationError
from qwen_agent.settings import Settings


def add_ui_command(subparsers: Any, agent_options: Callable[[argparse.ArgumentParser], None],
                   build_agent: Callable[[argparse.Namespace], Any]) -> argparse.ArgumentParser:
    """Add `ui` to an argparse subparsers object and return its parser."""
    parser = subparsers.add_parser(
        "ui", help="a chat web page that shows the agent at work (steps, code, plots, files)",
        description="Serve a chat web page over the agent: streamed answers, each tool call and result, code "
        "highlighted, plots inline, uploads into the code interpreter's work dir.")
    agent_options(parser)
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (default 127.0.0.1; other addresses need --require-key)")
    parser.add_argument("--port", type=int, default=7860)
    add_require_key_argument(parser, "--ui-key", what="the page asks for it; --ui-key is its older name")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser window")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where conversations and their files are kept (default: $QWEN_AGENT_DATA, else "
                        "$XDG_DATA_HOME/qwen_agent, else ~/.local/share/qwen_agent)")
    parser.add_argument("--log-level", default="warning")
    parser.set_defaults(func=lambda args: run_ui(args, build_agent))
    return parser


def check_exposure(host: str, key: str | None) -> None:
    """Refuse to serve a code-running agent beyond this machine without an access key."""
    if not key and not is_loopback(host):
        raise ConfigurationError(f"--host {host} would let anyone who reaches it run code through the agent: "
                                 "pass --require-key KEY (the page asks for it) or bind 127.0.0.1")


def run_ui(args: argparse.Namespace, build_agent: Callable[[argparse.Namespace], Any]) -> int:
    """Build the agent, serve the UI until interrupted. Returns the exit status."""
    check_exposure(args.host, args.require_key)
    from qwen_agent.server import serve
    from qwen_agent.ui.app import create_ui_app

    data_dir = args.data_dir or Settings.from_env().data_dir
    agent = build_agent(args)
    try:
        app = create_ui_app(agent, api_key=args.require_key, data_dir=data_dir)
        url = f"http://{'127.0.0.1' if args.host in ('0.0.0.0', '::') else args.host}:{args.port}/ui/"
        print(f"qwen-agent ui: {url} (conversations kept in {data_dir})", file=sys.stderr)
        if not args.no_browser:  # once the server is likely listening
            threading.Timer(1.5, open_browser, [url]).start()
        serve(app, host=args.host, port=args.port, log_level=args.log_level)
    finally:
        agent.close()
    return 0


def open_browser(url: str) -> bool:
    """Open `url` in a graphical browser if there is one; a console browser (lynx, w3m: what a machine without
    a display offers) would take over this terminal, so it is not used. Returns whether one was opened."""
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return False
    if type(browser) is webbrowser.GenericBrowser:
        return False
    return browser.open(url)
