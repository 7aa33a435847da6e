"""Without --context-window, a local checkpoint's own limit guards the server: the smaller of the model's
positions and the tokenizer's `model_max_length`, each only when plausible."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest

from tests.server.conftest import running

pytest.importorskip("transformers")


@pytest.mark.parametrize(
    ("max_positions", "model_max_length", "window"),
    [
        (32768, 131072, 32768),  # Qwen2.5-7B-Instruct: config 32768, tokenizer_config 131072 (YaRN, off by default)
        (8192, 8192, 8192),  # Qwen-7B-Chat: seq_length 8192 and model_max_length 8192
        (4096, int(1e30), 4096),  # a tokenizer that sets no limit: transformers writes 1e30
        (None, 2048, 2048),
        (0, -1, None),
        (None, True, None),  # not a number of tokens
        (None, None, None),
    ],
)
def test_context_window_of_takes_the_smaller_sane_limit(max_positions, model_max_length, window):
    from qwen_agent.llm.local.transformers import context_window_of

    assert context_window_of(max_positions, model_max_length) == window


@pytest.mark.slow
def test_server_over_a_local_checkpoint_rejects_prompts_over_its_window(tiny_qwen2_dir, tmp_path):
    from qwen_agent.llm import get_llm

    checkpoint = tmp_path / "tiny"
    shutil.copytree(tiny_qwen2_dir, checkpoint)  # max_position_embeddings 4096; the tokenizer says 1024
    config_file = checkpoint / "tokenizer_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "model_max_length": 1024}))
    llm = get_llm("transformers", model=str(checkpoint))
    try:
        assert llm.context_window == 1024
        assert llm.count_tokens(" hello" * 10) == 10  # one Qwen token per " hello"
        with running(llm, model_name="tiny") as server:
            body = {"model": "tiny", "messages": [{"role": "user", "content": " hello" * 1100}]}
            resp = httpx.post(server.base_url + "/chat/completions", json=body, timeout=60)
            assert resp.status_code == 400, resp.text
            err = resp.json()["error"]
            assert err["code"] == "context_length_exceeded"
            assert "maximum context length is 1024 tokens" in err["message"]
            body["messages"][0]["content"] = " hello" * 10
            body["max_tokens"] = 2
            assert httpx.post(server.base_url + "/chat/completions", json=body, timeout=60).status_code == 200
    finally:
        llm.close()


def test_text_that_cannot_fit_is_not_tokenized():
    from qwen_agent.server.request_limits import cap_token_counter

    seen: list[int] = []

    def count(text: str) -> int:  # one token per character, recording what it was asked to count
        seen.append(len(text))
        return len(text)

    capped = cap_token_counter(count, window=100)
    assert capped("x" * 3200) == 3200 and seen == [3200]  # 100 tokens * 32 characters: still counted
    assert capped("x" * 3201) == 101 and seen == [3200]  # 3201 // 32 + 1 > 100: refused without counting
    assert capped("x" * 8_000_000) == 250_001 and seen == [3200]
