"""The repetition penalty of our decode loop is transformers' rule, and the benchmarks' "original decoding
defaults" come from the checkpoint's own generation config (issue 12, item 12)."""

from __future__ import annotations

import json
import shutil

import pytest

from benchmarks import _harness as h
from benchmarks import tool_use
from qwen_agent.llm.local.decoding import RepetitionPenalty, checkpoint_config, sample_next
from qwen_agent.schema import GenerationConfig

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def test_penalty_is_transformers_rule_on_a_hand_example():
    logits = torch.tensor([[2.0, -1.0, 0.5, 3.0, -4.0], [1.0, 1.0, -2.0, 0.0, 6.0]])
    rows = [[0, 1, 1], [2, 3, 4]]  # a repeated id is penalised once; 0.0 stays 0.0
    # by hand, penalty 2: seen positive logits halve, seen negative ones double
    expected = torch.tensor([[1.0, -2.0, 0.5, 3.0, -4.0], [1.0, 1.0, -4.0, 0.0, 3.0]])
    ours = RepetitionPenalty(2.0, rows).apply(logits)
    assert torch.equal(ours, expected)
    processor = transformers.RepetitionPenaltyLogitsProcessor(2.0)
    assert torch.equal(processor(torch.tensor(rows), logits.clone()), expected)


def test_penalty_changes_the_greedy_choice_and_remembers_it():
    greedy = GenerationConfig(temperature=0.0, repetition_penalty=2.0)
    penalty = RepetitionPenalty.for_config(greedy, [[0]])
    logits = torch.tensor([[3.0, 2.0, -1.0]])
    assert int(sample_next(logits, greedy, penalty=penalty)[0]) == 1  # 3/2 = 1.5 < 2
    # token 1 is now seen too: 2.6/2 = 1.3 and 2.5/2 = 1.25 both fall under 1.4
    assert int(sample_next(torch.tensor([[2.6, 2.5, 1.4]]), greedy, penalty=penalty)[0]) == 2
    assert int(sample_next(logits, greedy)[0]) == 0  # no penalty given: plain argmax
    assert RepetitionPenalty.for_config(GenerationConfig(), [[0]]) is None


def test_ids_beyond_the_logits_vocabulary_are_ignored():
    out = RepetitionPenalty(4.0, [[1, 7]]).apply(torch.tensor([[2.0, 8.0]]))
    assert out.tolist() == [[2.0, 2.0]]


@pytest.mark.parametrize("bad", [0.0, -1.1])
def test_a_penalty_that_is_not_positive_is_refused(bad):
    with pytest.raises(ValueError, match="repetition_penalty"):
        RepetitionPenalty(bad, [[0]])
    with pytest.raises(ValueError):
        GenerationConfig(repetition_penalty=bad)


QWEN_7B_CHAT = {"do_sample": True, "max_new_tokens": 512, "repetition_penalty": 1.1, "temperature": None,
                "top_p": 0.8, "top_k": 0}  # Qwen-7B-Chat's generation_config.json fields we decode with


def test_checkpoint_config_greedy_as_published_keeps_length_and_penalty():
    config = checkpoint_config(QWEN_7B_CHAT, greedy=True, fallback_max_tokens=1024)
    assert (config.max_tokens, config.repetition_penalty, config.greedy) == (512, 1.1, True)
    sampled = checkpoint_config(QWEN_7B_CHAT, greedy=False, fallback_max_tokens=1024)
    assert (sampled.temperature, sampled.top_p, sampled.top_k, sampled.repetition_penalty) == (1.0, 0.8, None, 1.1)
    empty = checkpoint_config({}, greedy=False, fallback_max_tokens=300)
    assert (empty.max_tokens, empty.repetition_penalty, empty.greedy) == (300, 1.0, True)


@pytest.fixture(scope="module")
def penalised_dir(tmp_path_factory, tiny_qwen2_dir):
    """The tiny checkpoint with a generation config that asks for a penalty and a length."""
    out = tmp_path_factory.mktemp("penalised")
    for item in tiny_qwen2_dir.iterdir():
        shutil.copy(item, out / item.name)
    config = json.loads((out / "generation_config.json").read_text())
    config.update(repetition_penalty=1.8, max_new_tokens=12, do_sample=True, top_p=0.8)
    (out / "generation_config.json").write_text(json.dumps(config))
    return out


@pytest.fixture(scope="module")
def penalised_llm(penalised_dir):
    from qwen_agent.llm.local.transformers import TransformersLLM

    with TransformersLLM(str(penalised_dir), dtype="float32", reuse_prefix=False) as llm:
        yield llm


def test_backend_reads_the_checkpoint_config_and_decodes_as_transformers_generate(penalised_llm):
    config = h.generation_config(tool_use.parse_args(["--model", "any"]), penalised_llm)
    assert (config.max_tokens, config.repetition_penalty, config.greedy) == (12, 1.8, True)
    prompt = "a a a a a a"  # unpenalised, this tiny model repeats its 9th token as its 12th
    ours = penalised_llm.generate(prompt, config=config)
    plain = penalised_llm.generate(prompt, config=config.model_copy(update={"repetition_penalty": 1.0}))
    tok, model = penalised_llm.codec.tokenizer, penalised_llm.model
    ids = torch.tensor([tok(prompt)["input_ids"]])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=12, do_sample=False,
                         repetition_penalty=1.8)
    assert ours.text == tok.decode(out[0, ids.shape[1]:])
    assert ours.text != plain.text  # the penalty really acted on this prompt
    batch = penalised_llm.generate_batch([prompt, "你好"], config=config)
    assert batch[0].text == ours.text


def test_options_override_the_checkpoint_and_bad_values_are_refused(penalised_llm, capsys):
    args = tool_use.parse_args(["--model", "any", "--repetition-penalty", "1", "--max-tokens", "5"])
    config = h.generation_config(args, penalised_llm)
    assert (config.max_tokens, config.repetition_penalty) == (5, 1.0)
    for bad in ("0", "-2", "x"):
        with pytest.raises(SystemExit):
            tool_use.parse_args(["--model", "any", "--repetition-penalty", bad])
        assert "--repetition-penalty: must be a number > 0" in capsys.readouterr().err


def test_a_server_is_asked_for_the_penalty_by_vllm_name():
    from qwen_agent.llm.openai_compat import OpenAICompatLLM

    llm = OpenAICompatLLM(model="m", base_url="http://127.0.0.1:9/v1")
    try:
        params = llm._params([], GenerationConfig(repetition_penalty=1.05))
        assert params["extra_body"]["repetition_penalty"] == 1.05
        assert "extra_body" not in llm._params([], GenerationConfig())
    finally:
        llm.close()


def test_our_server_reads_the_penalty_from_a_request():
    """`qwen-agent serve` takes vLLM's `repetition_penalty` field into the generation config, and refuses a
    value that is not positive with a 400-shaped error."""
    from qwen_agent.server.protocol import APIError, ChatCompletionRequest, validate

    body = {"messages": [{"role": "user", "content": "hi"}], "repetition_penalty": 1.3, "temperature": 0}
    config = validate(ChatCompletionRequest, body).config(GenerationConfig())
    assert (config.repetition_penalty, config.temperature) == (1.3, 0)
    assert validate(ChatCompletionRequest, {**body, "repetition_penalty": None}).config(GenerationConfig()).repetition_penalty == 1.0
    with pytest.raises(APIError) as bad:
        validate(ChatCompletionRequest, {**body, "repetition_penalty": 0})
    assert bad.value.status == 400 and bad.value.param == "repetition_penalty"
