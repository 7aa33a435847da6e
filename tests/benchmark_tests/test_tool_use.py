"""benchmarks/tool_use/__init__.py: published scoring, oracle and planted-mistake numbers, resume, model path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import tool_use as tu
from benchmarks.tool_use import make_sample as sample
from qwen_agent import ScriptedLLM
from qwen_agent.errors import ConfigurationError
from tests.scripted_server import ScriptedOpenAIServer


def _args(tmp_path: Path, vocab: Path, *extra: str):
    return tu.parse_args(["--vocab", str(vocab), "--output", str(tmp_path / "out.jsonl"), *extra])


def test_bundled_sample_matches_its_builder_and_size():
    assert (tu.DATA_DIR / "positive.jsonl").read_text(encoding="utf-8") == sample.render(sample.positive_rows())
    assert (tu.DATA_DIR / "negative.jsonl").read_text(encoding="utf-8") == sample.render(sample.negative_rows())
    pos, neg = sample.positive_rows(), sample.negative_rows()
    assert len(pos) >= 30 and len(neg) >= 20
    assert {r["lang"] for r in pos} == {"en", "zh"} == {r["lang"] for r in neg}
    assert "Question: 北京明天天气怎么样？" in pos[0]["prompt"] and "weather_forecast" in pos[0]["prompt"]


def test_rouge_l_by_hand():
    # LCS of a b c d / a x c d is a c d = 3: P = R = 3/4, F1 = 0.75.
    assert tu.rouge_l_f1(list("abcd"), list("axcd")) == pytest.approx(0.75)
    # Lengths 4 and 2 sharing 2: P = 1, R = 1/2, F1 = 2/3.
    assert tu.rouge_l_f1(list("abcd"), list("bd")) == pytest.approx(2 / 3)
    assert tu.rouge_l_f1([], []) == 0.0 and tu.rouge_l_f1(["a"], []) == 0.0  # empty: 0, as rouge_score
    assert tu.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4  # the textbook example


def test_published_field_reading():
    text = 'Thought: t\nAction: Weather_Forecast \nAction Input: {date: "明天", "city": \'北京\'}\nObservation: x'
    assert tu.react_fields(text) == ("Weather_Forecast", '{"city": "北京", "date": "明天"}')
    assert tu.normalise_action_input("{city: 北京") == ""  # unparsable
    assert tu.normalise_action_input('"plain"') == '"plain"'  # any json5 value, as published


def test_rouge_tokens_are_qwen_token_strings(qwen_tokenizer):
    # ' "' tokens lose their space when the joined string is split again; 明天 is one token.
    assert tu.rouge_tokens(qwen_tokenizer, '{"city": "北京", "date": "明天"}') == [
        '{"', "city", '":', '"', "北京", '",', '"', "date", '":', '"', "明天", '"}']


def test_references_score_exactly_perfect(tmp_path, qwen_vocab):
    data = tu.run(_args(tmp_path, qwen_vocab, "--oracle"))
    m = data["metrics"]
    assert (m["n_positive"], m["n_negative"]) == (32, 20)
    assert (m["tool_selection"], m["tool_input_rouge_l"], m["false_positive_error"]) == (1.0, 1.0, 0.0)
    assert "| **oracle** (this run) | 100.0% | 1.000 | 0.0% |" in (tmp_path / "out.md").read_text()
    assert json.loads((tmp_path / "out.json").read_text())["metrics"]["tool_selection"] == 1.0
    assert (tmp_path / "out.png").read_bytes()[:4] == b"\x89PNG"


def test_without_vocab_the_bundled_qwen_vocabulary_counts_tokens(tmp_path, capsys):
    args = tu.parse_args(["--oracle", "--limit", "3", "--output", str(tmp_path / "out.jsonl")])
    assert tu.run(args)["metrics"]["tool_input_rouge_l"] == 1.0
    assert "bundled vocabulary" in capsys.readouterr().err


# Planted mistakes on the first five positive and first five negative sample cases.
REF = {
    "p01": ("weather_forecast", '{"city": "北京", "date": "明天"}'),
    "p02": ("weather_forecast", '{"city": "上海", "date": "2024-05-01"}'),
    "p03": ("weather_forecast", '{"city": "杭州", "date": "今天"}'),
    "p04": ("currency_convert", '{"amount": "100", "source": "USD", "target": "CNY"}'),
    "p05": ("currency_convert", '{"amount": "5000", "source": "JPY", "target": "CNY"}'),
}
PLANTED = {
    "positive:p01": "Thought: ok\nAction: weather_forecast\nAction Input: " + REF["p01"][1],  # right, Rouge 1
    "positive:p02": "Thought: hm\nAction: stock_quote\nAction Input: " + REF["p02"][1],  # wrong tool, Rouge 1
    "positive:p03": "Thought: ok\nAction: WEATHER_FORECAST\nAction Input: {city: 杭州",  # right, unparsable: 0
    "positive:p04": ('Thought: ok\nAction: currency_convert\nAction Input: '
                     '{"amount": "100", "source": "USD", "target": "EUR"}'),  # right, Rouge 38/41
    "positive:p05": "Action: currency_convert\nAction Input: " + REF["p05"][1],  # no "\nAction: ": wrong, Rouge 1
    "negative:n01": "Thought: no tool needed\nFinal Answer: 你好",
    "negative:n02": "Thought: let me check\nAction: weather_forecast\nAction Input: {}",  # false positive
    "negative:n03": "Action: stock_quote\nAction Input: {}",  # no newline before Action: not counted
    "negative:n04": "你好！",
    "negative:n05": "Thought: 不需要工具\nFinal Answer: H2O",
}


def test_planted_mistakes_score_the_numbers_computed_by_hand(tmp_path, qwen_vocab):
    replay = tmp_path / "planted.jsonl"
    replay.write_text("".join(json.dumps({"id": k, "gen": v}, ensure_ascii=False) + "\n"
                              for k, v in PLANTED.items()), encoding="utf-8")
    m = tu.run(_args(tmp_path, qwen_vocab, "--limit", "5", "--replay", str(replay)))["metrics"]
    assert (m["n_positive"], m["n_negative"]) == (5, 5)
    # Tool selection: p01, p03 (case-insensitive), p04 right; p02 wrong tool; p05 lacks "\nAction: " -> 3/5.
    assert m["tool_selection"] == pytest.approx(3 / 5)
    # p04: reference tokens {" amount ": " 1 0 0 ", " source ": " USD ", " target ": " C NY "} = 21, generated
    # ends in EUR (one token) = 20, LCS = 19, so F1 = 2*19/(21+20) = 38/41. p03 unparsable = 0.
    # Mean over all five positives = (1 + 1 + 0 + 38/41 + 1) / 5 = 161/205.
    assert m["tool_input_rouge_l"] == pytest.approx(161 / 205)
    # False positives: only n02 contains "\nAction: " -> 1/5.
    assert m["false_positive_error"] == pytest.approx(1 / 5)


def test_published_cache_files_replay_by_prompt(tmp_path, qwen_vocab):
    rows = sample.negative_rows()[:3]
    cache = tmp_path / "neg.cache.jsonl"
    cache.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"],
                                         "gen": ["Thought: x\nAction: translate_text\nAction Input: {}"]},
                                        ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    args = _args(tmp_path, qwen_vocab, "--limit", "3", "--replay", str(cache),
                 "--positive", str(tu.DATA_DIR / "negative.jsonl"))
    # the positive file is replaced by negatives so every case is covered by the cache: scoring by prompt
    args.positive = tmp_path / "none.jsonl"
    args.positive.write_text("")
    m = tu.run(args)["metrics"]
    assert m["false_positive_error"] == 1.0 and m["n_positive"] == 0 and m["tool_selection"] is None


def test_replay_missing_cases_is_a_clear_error(tmp_path, qwen_vocab):
    replay = tmp_path / "r.jsonl"
    replay.write_text('{"id": "positive:p01", "gen": "x"}\n')
    with pytest.raises(ConfigurationError, match="no generation for 51 cases"):
        tu.run(_args(tmp_path, qwen_vocab, "--replay", str(replay)))


def test_live_model_gets_the_prompt_and_stop_words_and_resume_skips_done_cases(tmp_path, qwen_vocab):
    llm = ScriptedLLM(["Thought: a\nAction: weather_forecast\nAction Input: " + REF["p01"][1] +
                       "\nObservation: sunny"] + ["Thought: fine\nFinal Answer: hi"] * 2)
    args = _args(tmp_path, qwen_vocab, "--limit", "1", "--model", "scripted")
    tu.run(args, llm=llm)  # 1 positive + 1 negative
    prompt, stop = llm.calls[0]
    assert [m.role for m in prompt] == ["system", "user"] and prompt[0].content == "You are a helpful assistant."
    assert prompt[1].content == sample.positive_rows()[0]["prompt"] and stop == []  # no stop, as published
    m = tu.run(args, llm=llm)["metrics"]  # rerun: nothing left to generate
    assert len(llm.calls) == 2
    assert (m["tool_selection"], m["tool_input_rouge_l"], m["false_positive_error"]) == (1.0, 1.0, 0.0)
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps({"id": "p01", "prompt": "different", "response": "Final Answer: x"}) + "\n")
    args.positive = other
    with pytest.raises(ConfigurationError, match="different data set"):
        tu.run(args, llm=llm)


def test_command_line_errors_exit_2_with_a_message(tmp_path, capsys):
    assert tu.main(["--output", str(tmp_path / "o.jsonl")]) == 2  # no model named
    err = capsys.readouterr().err
    assert "bundled vocabulary" in err and "--model" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "x"}\n')
    assert tu.main(["--oracle", "--vocab", "/nonexistent/qwen.tiktoken", "--positive", str(bad)]) == 2


def test_command_line_against_an_openai_compatible_server(tmp_path, qwen_vocab, capsys):
    replies = ["Thought: a\nAction: weather_forecast\nAction Input: " + REF["p01"][1] + "\nObservation: sunny",
               "Thought: b\nAction: weather_forecast\nAction Input: {\"city\": \"上海\"}",
               "Thought: no tool\nFinal Answer: 你好"]
    argv = ["--model", "qwen", "--vocab", str(qwen_vocab), "--limit", "2", "--output", str(tmp_path / "o.jsonl")]
    with ScriptedOpenAIServer(replies) as server:  # three replies for four cases: the server fails the last
        assert tu.main([*argv, "--base-url", server.base_url]) == 2
    assert "answered 500" in capsys.readouterr().err
    first = server.requests[0]
    assert first["model"] == "qwen" and "stop" not in first and first["temperature"] == 0
    assert first["messages"][1]["content"] == sample.positive_rows()[0]["prompt"]
    assert len((tmp_path / "o.jsonl").read_text().splitlines()) == 3  # finished cases kept
    with ScriptedOpenAIServer(["Thought: chat\nFinal Answer: 2"]) as server:  # the rerun asks only for the rest
        assert tu.main([*argv, "--base-url", server.base_url]) == 0
    assert len(server.requests) == 1
    out = capsys.readouterr().out
    # p01 and p02 name the right tool; p02's input {"city": "上海"} is part of the reference's: 0 < Rouge < 1.
    assert "| **qwen** (this run) | 100.0% |" in out and "| 0.0% |" in out
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "o.jsonl").read_text().splitlines())}
    assert len(rows) == 4 and rows["positive:p01"]["rouge_l"] == 1.0 and 0 < rows["positive:p02"]["rouge_l"] < 1
