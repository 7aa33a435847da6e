"""`qwen-agent serve` as a real process: the scripted backend answers the openai client."""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
from pathlib import Path

import openai
import pytest

from qwen_agent.errors import ConfigurationError
from qwen_agent.llm_options import llm_from_args
from qwen_agent.server.cli import add_serve_command
from tests.processes import wait_for_openai_server


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qwen-agent")
    add_serve_command(parser.add_subparsers(dest="command"))
    return parser


def test_serve_arguments_and_bad_configuration(tmp_path):
    args = _parser().parse_args(["serve", "--backend", "scripted", "--script", str(tmp_path / "r.json")])
    assert (args.host, args.port, args.require_key, args.func.__name__) == ("127.0.0.1", 8000, None, "run_serve")
    (tmp_path / "r.json").write_text('{"not": "a list"}')
    with pytest.raises(ConfigurationError, match="JSON list of strings"):
        llm_from_args(args)
    with pytest.raises(ConfigurationError, match="needs --model"):
        llm_from_args(_parser().parse_args(["serve", "--backend", "transformers"]))
    (tmp_path / "r.json").write_text('["unterminated')
    with pytest.raises(ConfigurationError, match="cannot read a JSON list of replies"):
        llm_from_args(args)
    missing = _parser().parse_args(["serve", "--backend", "scripted", "--script", str(tmp_path / "none.json")])
    with pytest.raises(ConfigurationError, match="No such file"):
        llm_from_args(missing)


def test_serve_api_key_with_a_local_model_says_to_use_require_key():
    """`serve --api-key K` once meant "clients must send K"; now it is the upstream's key, and a server with no
    upstream refuses it rather than start open to everyone."""
    args = _parser().parse_args(["serve", "--backend", "scripted", "--script", "r.json", "--api-key", "K"])
    with pytest.raises(ConfigurationError, match="--api-key applies to --backend openai, not scripted .*--require-key"):
        llm_from_args(args)


def test_serve_without_the_server_extra_says_what_to_install(tmp_path):
    """The `serve` command is always listed; without fastapi it fails with the pip line, not 'invalid choice'."""
    (tmp_path / "r.json").write_text('["hi"]')
    code = ("import sys; sys.modules['fastapi'] = None\nfrom qwen_agent.cli import main\n"
            f"sys.exit(main(['serve', '--backend', 'scripted', '--script', {str(tmp_path / 'r.json')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1, out.stderr
    assert "fastapi" in out.stderr and "pip install" in out.stderr and "qwen_agent[server]" in out.stderr


def test_without_the_server_extra_every_command_is_listed_and_ui_says_what_to_install():
    """With only `[local,interpreter]` installed, `qwen-agent` still starts (the README's main command)."""
    code = ("import sys; sys.modules['fastapi'] = None\nfrom qwen_agent.cli import main, build_parser\n"
            "print(build_parser().format_help())\n"
            "sys.exit(main(['ui', '--backend', 'openai', '--no-browser']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.returncode == 1, out.stderr
    assert all(f"    {cmd} " in out.stdout for cmd in ("run", "serve", "mcp-server", "ui", "fetch-model"))
    assert "The web UI needs the 'fastapi' package" in out.stderr and "qwen_agent[server]" in out.stderr


def test_max_request_bytes_must_be_positive(capsys):
    args = _parser().parse_args(["serve", "--backend", "scripted", "--max-request-bytes", "1000"])
    assert args.max_request_bytes == 1000
    assert _parser().parse_args(["serve"]).max_request_bytes is None  # Limits() default: 8 MiB
    with pytest.raises(SystemExit):
        _parser().parse_args(["serve", "--max-request-bytes", "0"])
    assert "must be a positive number of bytes, not 0" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_process_answers_openai_client(tmp_path):
    script = tmp_path / "replies.json"
    call = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    script.write_text(json.dumps(["Hello from the scripted backend.", call]))
    port = _free_port()
    code = (
        "import argparse, sys\nfrom qwen_agent.server.cli import add_serve_command\n"
        "p = argparse.ArgumentParser(); add_serve_command(p.add_subparsers())\n"
        "a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--backend", "scripted", "--script", str(script),
         "--served-model-name", "demo", "--port", str(port), "--require-key", "k", "--log-level", "warning",
         "--tool-format", "hermes"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
    )
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=5)
        wait_for_openai_server(client, proc, 30)
        resp = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": "hi"}])
        assert resp.choices[0].message.content == "Hello from the scripted backend."
        # `qwen-agent run`'s default model name reaches the one served model; tools are read as Hermes
        tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
        resp = client.chat.completions.create(model="Qwen2.5-7B-Instruct", tools=tools,
                                              messages=[{"role": "user", "content": "weather?"}])
        (tool_call,) = resp.choices[0].message.tool_calls
        assert (tool_call.function.name, json.loads(tool_call.function.arguments)) == ("get_weather", {"city": "Paris"})
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="other", messages=[{"role": "user", "content": "hi"}])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
