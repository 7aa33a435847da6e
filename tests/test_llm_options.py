"""One set of model flags for every command and benchmark (`qwen_agent.llm_options`): each parser takes them,
and the same flags build the same LLM: the openai backend against a real server of ours on 127.0.0.1, and a
tiny random transformers checkpoint. `--api-key` is always the upstream key; `--require-key` the clients'."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from qwen_agent.errors import ConfigurationError
from qwen_agent.llm import ScriptedLLM
from qwen_agent.llm_options import add_llm_arguments, llm_from_args, resolve_backend
from qwen_agent.server import ServerThread, create_app
from tests.processes import wait_for_openai_server

REPO = Path(__file__).resolve().parents[1]
ENV_NAMES = ("QWEN_AGENT_BACKEND", "QWEN_AGENT_BASE_URL", "QWEN_AGENT_MODEL", "QWEN_AGENT_API_KEY", "OPENAI_API_KEY")


def _cli(command: str, *before: str) -> Callable[[list[str]], argparse.Namespace]:
    def parse(flags: list[str]) -> argparse.Namespace:
        from qwen_agent.cli import build_parser

        return build_parser().parse_args([command, *before, *flags])
    return parse


def _bench(module: str, *before: str) -> Callable[[list[str]], argparse.Namespace]:
    def parse(flags: list[str]) -> argparse.Namespace:
        import importlib

        mod = importlib.import_module(module)
        return getattr(mod, "parse_args", getattr(mod, "parse", None))([*before, *flags])
    return parse


COMMANDS = {
    "run": _cli("run", "a query"), "chat": _cli("chat"), "serve": _cli("serve"), "ui": _cli("ui"),
    "bench code_interpreter": _bench("benchmarks.code_interpreter"),
    "bench tool_use": _bench("benchmarks.tool_use"),
    "bench hf_agent": _bench("benchmarks.hf_agent", "--mode", "run"),
    "bench real_tool_use": _bench("benchmarks.tool_use.real_tool_use"),
}
MODEL_FIELDS = ("backend", "model", "base_url", "api_key", "quantize", "dtype", "device", "script")


@pytest.fixture(autouse=True)
def _no_model_environment(monkeypatch):
    """The defaults below are those of a shell with no QWEN_AGENT_* variables."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def upstream():
    """A real OpenAI-compatible server of ours that demands the key "up-key" and replays one text."""
    app = create_app(ScriptedLLM(["scripted reply"], cycle=True), model_name="served-m", api_key="up-key")
    with ServerThread(app) as server:
        yield server


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_parses_the_same_flags_to_the_same_values(command):
    flags = ["--backend", "openai", "--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--api-key", "k",
             "--quantize", "none"]
    args = COMMANDS[command](flags)
    assert {f: getattr(args, f) for f in MODEL_FIELDS} == {
        "backend": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key": "k", "quantize": "none",
        "dtype": None, "device": None, "script": None}
    defaults = COMMANDS[command]([])
    assert {f: getattr(defaults, f) for f in MODEL_FIELDS} == {
        "backend": None, "model": None, "base_url": None, "api_key": None, "quantize": "auto", "dtype": None,
        "device": None, "script": None}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_builds_the_same_openai_llm_and_it_reaches_the_server(command, upstream):
    # the backend is not named: a base URL chooses openai
    args = COMMANDS[command](["--base-url", upstream.base_url, "--model", "served-m", "--upstream-api-key", "up-key"])
    with llm_from_args(args) as llm:
        assert (type(llm).__name__, llm.model_name, llm.base_url) == ("OpenAICompatLLM", "served-m",
                                                                     upstream.base_url)
        assert llm.generate("hi").text == "scripted reply"  # the key reached the server, which demands it


@pytest.mark.slow
def test_commands_build_the_same_local_checkpoint(tiny_qwen2_dir):
    """A load per command takes seconds: an agent command, the server and a benchmark stand for the rest (their
    flags parse to the same values above)."""
    flags = ["--model", str(tiny_qwen2_dir), "--dtype", "float32", "--device", "cpu", "--quantize", "int8"]
    built = {}
    for command in ("run", "serve", "bench code_interpreter"):
        with llm_from_args(COMMANDS[command](flags)) as llm:
            built[command] = (type(llm).__name__, llm.model_name, llm.device, llm.dtype, llm.quantize)
    assert set(built.values()) == {("TransformersLLM", str(tiny_qwen2_dir), "cpu", "float32", "int8")}


def test_scripted_backend_from_any_command(tmp_path):
    script = tmp_path / "replies.json"
    script.write_text(json.dumps(["one", "two"]))
    for parse in COMMANDS.values():
        llm = llm_from_args(parse(["--backend", "scripted", "--script", str(script)]))
        assert [llm.generate("q").text for _ in range(3)] == ["one", "two", "one"]  # cycled


def test_the_backend_default_follows_the_environment_then_the_base_url(monkeypatch):
    parse = COMMANDS["run"]
    assert resolve_backend(parse([])) == "transformers"
    assert resolve_backend(parse(["--base-url", "http://127.0.0.1:9/v1"])) == "openai"
    monkeypatch.setenv("QWEN_AGENT_BASE_URL", "http://127.0.0.1:9/v1")
    assert resolve_backend(parse([])) == "openai"
    monkeypatch.setenv("QWEN_AGENT_BACKEND", "transformers")
    assert resolve_backend(parse([])) == "transformers"
    assert resolve_backend(parse(["--backend", "scripted"])) == "scripted"


def test_environment_supplies_model_url_and_key(monkeypatch, upstream):
    monkeypatch.setenv("QWEN_AGENT_BASE_URL", upstream.base_url)
    monkeypatch.setenv("QWEN_AGENT_MODEL", "served-m")
    monkeypatch.setenv("OPENAI_API_KEY", "up-key")
    with llm_from_args(COMMANDS["serve"]([])) as llm:
        assert (llm.model_name, llm.generate("hi").text) == ("served-m", "scripted reply")
    monkeypatch.delenv("QWEN_AGENT_MODEL")
    with llm_from_args(COMMANDS["chat"](["--backend", "openai"])) as llm:
        assert llm.model_name == "Qwen2.5-7B-Instruct"  # the name `qwen-agent serve` answers to


@pytest.mark.parametrize(("flags", "message"), [
    (["--backend", "transformers"], "--backend transformers needs --model"),
    (["--model", "m", "--api-key", "k"], "--api-key applies to --backend openai, not transformers (the key "
     "clients of a server of ours must send is --require-key)"),
    (["--model", "m", "--base-url", "http://127.0.0.1:9/v1", "--backend", "transformers"],
     "--base-url applies to --backend openai, not transformers"),
    (["--base-url", "http://127.0.0.1:9/v1", "--dtype", "float32"], "--dtype applies to --backend transformers, not openai"),
    (["--base-url", "http://127.0.0.1:9/v1", "--device", "cpu"], "--device applies to --backend transformers"),
    (["--base-url", "http://127.0.0.1:9/v1", "--quantize", "int8"], "--quantize int8 applies to --backend transformers"),
    (["--backend", "scripted"], "--backend scripted needs --script FILE"),
    (["--backend", "scripted", "--script", "r.json", "--quantize", "int8"],
     "--quantize int8 applies to --backend transformers, not scripted"),
    (["--model", "m", "--script", "r.json"], "--script applies to --backend scripted, not transformers"),
])
def test_flags_of_another_backend_are_errors(flags, message):
    with pytest.raises(ConfigurationError) as info:
        llm_from_args(COMMANDS["serve"](flags))
    assert message in str(info.value)


def test_an_unknown_backend_in_the_environment_is_an_error(monkeypatch):
    monkeypatch.setenv("QWEN_AGENT_BACKEND", "vllm")
    with pytest.raises(ConfigurationError, match="QWEN_AGENT_BACKEND='vllm': use one of openai, transformers"):
        llm_from_args(COMMANDS["run"](["--model", "m", "--base-url", "http://127.0.0.1:9/v1"]))


def test_bad_scripts_are_clear_errors(tmp_path):
    parser = argparse.ArgumentParser()
    add_llm_arguments(parser)
    script = tmp_path / "r.json"
    for text, message in (('{"not": "a list"}', "must hold a non-empty JSON list of strings"),
                          ("[]", "must hold a non-empty JSON list of strings"),
                          ('["unterminated', "cannot read a JSON list of replies")):
        script.write_text(text)
        with pytest.raises(ConfigurationError, match=message):
            llm_from_args(parser.parse_args(["--backend", "scripted", "--script", str(script)]))
    with pytest.raises(ConfigurationError, match="No such file"):
        llm_from_args(parser.parse_args(["--backend", "scripted", "--script", str(tmp_path / "none.json")]))


def test_the_clients_key_has_its_own_name_on_every_server_command():
    from qwen_agent.cli import build_parser

    parser = build_parser()
    serve = parser.parse_args(["serve", "--api-key", "up", "--require-key", "down"])
    assert (serve.api_key, serve.require_key) == ("up", "down")
    assert parser.parse_args(["ui", "--require-key", "down"]).require_key == "down"
    assert parser.parse_args(["ui", "--ui-key", "down"]).require_key == "down"  # the UI's older name
    mcp = parser.parse_args(["mcp-server", "--require-key", "down"])
    assert mcp.require_key == "down" and not hasattr(mcp, "api_key")  # no model behind it: no upstream key


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_serve_sends_api_key_upstream_and_demands_require_key_from_clients(upstream):
    """`qwen-agent serve --backend openai` in front of a server that demands "up-key": our server takes
    "down-key" from its clients and sends "up-key" on, each to its own side."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    proc = subprocess.Popen(
        [sys.executable, "-m", "qwen_agent.cli", "serve", "--base-url", upstream.base_url, "--model", "served-m",
         "--api-key", "up-key", "--require-key", "down-key", "--port", str(port), "--log-level", "warning",
         "--tool-format", "hermes"],
        cwd=REPO, env={**env, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="down-key", max_retries=0, timeout=20)
        wait_for_openai_server(client, proc, 60)
        reply = client.chat.completions.create(model="served-m", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content == "scripted reply"
        wrong = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="up-key", max_retries=0, timeout=20)
        with pytest.raises(openai.AuthenticationError):
            wrong.chat.completions.create(model="served-m", messages=[{"role": "user", "content": "hi"}])
    finally:
        proc.terminate()
        proc.wait(timeout=10)
