"""The HF Agent benchmark harness: reference replays score 100, planted mistakes score what hand arithmetic says,
runs resume, and bad input gets a clear error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from benchmarks import _harness as h
from benchmarks import hf_agent
from benchmarks.hf_agent.scoring import reference_results
from benchmarks.hf_agent.task_set import Item, TaskSet, fake_tool_functions, load_task_set
from qwen_agent import ScriptedLLM
from qwen_agent.errors import ConfigurationError
from tests.conftest import BENCH_DATA
from tests.scripted_server import ScriptedOpenAIServer

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tasks_path() -> Path:
    return BENCH_DATA / "hf_agent" / "tasks.json"


@pytest.fixture(scope="module")
def task_set(tasks_path: Path) -> TaskSet:
    return load_task_set(tasks_path)


def reference_code(item: Item) -> str:
    answer = item.problem.answer
    return answer[0] if isinstance(answer, list) else answer


def completion_for(mode: str, explanation_tools: list[str], code: str) -> str:
    named = ", ".join(f"`{t}`" for t in explanation_tools)
    if mode == "run":  # continues "I will use the following"
        return f" tools: {named}.\n\nAnswer:\n```py\n{code}\n```\n"
    return f"I will use {named}.\n\n```py\n{code}\n```\n"


def reference_completions(mode: str, task_set: TaskSet) -> dict[str, str]:
    names = list(task_set.tools)
    items = task_set.run if mode == "run" else task_set.chat
    out = {}
    for item in items:
        code = reference_code(item)
        out[item.id] = completion_for(mode, [n for n in names if n in code], code)
    return out


def write_jsonl(path: Path, completions: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "completion": v}) + "\n" for k, v in completions.items()))
    return path


def replay(mode: str, tasks_path: Path, completions: dict[str, str], tmp_path: Path) -> dict:
    recorded = write_jsonl(tmp_path / f"{mode}-replay.jsonl", completions)
    results = tmp_path / f"{mode}-results.json"
    code = hf_agent.main(["--mode", mode, "--tasks", str(tasks_path), "--replay", str(recorded),
                          "--results", str(results), "--no-progress"])
    assert code == 0
    return json.loads(results.read_text())


def test_the_set_has_the_published_sizes(task_set: TaskSet) -> None:
    assert len(task_set.run) == 27 and len(task_set.chat) == 47
    assert sorted(task_set.tools) == sorted([
        "document_qa", "image_captioner", "image_generator", "image_qa", "image_segmenter", "image_transformer",
        "summarizer", "text_classifier", "text_downloader", "text_qa", "text_reader", "transcriber",
        "translator", "video_generator"])


def test_reference_results_are_real_strings(task_set: TaskSet) -> None:
    """Guards the 100-score replay below against a vacuous None == None match."""
    tools = fake_tool_functions(task_set.tools)
    for item in task_set.run:
        results = reference_results(item.problem.answer, item.problem.inputs, tools)
        for r in results if isinstance(results, list) else [results]:
            assert isinstance(r, str) and r.startswith(("This is", "A video of")), (item.id, r)


@pytest.mark.parametrize("mode", ["run", "chat"])
def test_reference_answers_replayed_score_100(mode: str, tasks_path: Path, task_set: TaskSet, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    summary = replay(mode, tasks_path, reference_completions(mode, task_set), tmp_path)
    assert summary["items"] == (27 if mode == "run" else 47)
    assert summary["scores"] == {"tool_selection": 100.0, "tool_used": 100.0, "code": 100.0}
    table = capsys.readouterr().out
    assert f"| {mode} | {summary['items']} | 100.00 | 100.00 | 100.00 |" in table


def test_planted_run_mistakes_score_what_hand_arithmetic_says(tasks_path: Path, task_set: TaskSet,
                                                              tmp_path: Path) -> None:
    c = reference_completions("run", task_set)
    # run/0/0: explanation names only `translator`, not `text_classifier` -> selection 1 - 0.25 = 0.75
    c["run/0/0"] = completion_for("run", ["translator"], reference_code(task_set.run[0]))
    # run/1/0: the *second* alternative (image_qa). Its result matches alternative 2, whose tools are then the
    # reference: all three scores stay 1.0
    c["run/1/0"] = completion_for("run", ["image_qa", "text_reader"],
                                  "text_reader(image_qa(image, question='What is in the image?'))")
    # run/2/0 (image_transformer(image_generator(text_input), prompt)): an extra summarizer call in the code.
    # tool used: one unexpected tool -> 0.75; the result differs from the reference -> code 0.3
    c["run/2/0"] = completion_for("run", ["image_generator", "image_transformer"],
                                  "image_transformer(image_generator(summarizer(text_input)), prompt)")
    # run/6/0 (image_generator(text_input)): only printed; print() returns None, so the result is None -> 0.3
    c["run/6/0"] = completion_for("run", ["image_generator"], "print(image_generator(text_input))")
    # run/3/0: the right value, then an attribute call the evaluator refuses. As transformers did, the partial
    # result (the right one) is kept -> code 1.0
    c["run/3/0"] = completion_for("run", ["text_downloader", "summarizer", "image_generator"],
                                  "image = image_generator(summarizer(text_downloader(url)))\nimage.save('x.png')")
    # run/4/0: arguments swapped, image_transformer's `image` argument lacks the word "image" -> the fake tool
    # raises -> result None -> code 0.3 (tools are still the right ones: 1.0, 1.0)
    c["run/4/0"] = completion_for("run", ["translator", "image_transformer"],
                                  "image_transformer(text, translator(image, src_lang='Spanish', tgt_lang='English'))")
    scores = replay("run", tasks_path, c, tmp_path)["scores"]
    assert scores["tool_selection"] == pytest.approx(100 * (26 + 0.75) / 27)  # 99.07
    assert scores["tool_used"] == pytest.approx(100 * (26 + 0.75) / 27)  # 99.07
    assert scores["code"] == pytest.approx(100 * (24 + 3 * 0.3) / 27)  # 92.22


def test_planted_chat_mistakes_score_what_hand_arithmetic_says(tasks_path: Path, task_set: TaskSet,
                                                               tmp_path: Path) -> None:
    c = reference_completions("chat", task_set)
    # chat/0/0/1: the right value, but returned inside a dict -> code 0.75 (tools fine)
    c["chat/0/0/1"] = completion_for("chat", ["text_classifier"],
                                     "{'result': text_classifier(translated_text, labels=['positive', 'negative'])}")
    # chat/0/1/0 names its variable `translated`; the next step's reference code reads `translated_text`, which
    # the transformers-compatible fuzzy lookup resolves to `translated` -> both steps stay at 1.0
    c["chat/0/1/0"] = completion_for("chat", ["translator"],
                                     "translated = translator(text, src_lang='Spanish', tgt_lang='English')")
    # chat/6/0/0 (a one-step conversation): an answer with no code block. transformers' clean_code_for_chat gave
    # code None and evaluate_code raised on it: the original run would have aborted, so the item scores 0 on all
    # three (it scored 1.0 / 0.75 / 0.3 under our older reading)
    c["chat/6/0/0"] = "I will use `image_generator` to draw it."
    summary = replay("chat", tasks_path, c, tmp_path)
    scores = summary["scores"]
    assert scores["tool_selection"] == pytest.approx(100 * 46 / 47)  # 97.87
    assert scores["tool_used"] == pytest.approx(100 * 46 / 47)  # 97.87
    assert scores["code"] == pytest.approx(100 * (45 + 0.75) / 47)  # 97.34
    assert summary["would_abort_original"] == ["chat/6/0/0"]


@pytest.mark.parametrize(("mode", "style", "path"), [("run", "text", "/v1/completions"),
                                                     ("chat", "chat", "/v1/chat/completions")])
def test_end_to_end_over_http_with_the_openai_backend(mode: str, style: str, path: str, tasks_path: Path,
                                                      task_set: TaskSet, tmp_path: Path) -> None:
    """The CLI against a real HTTP server replaying the reference answers (a scripted server, named as such)."""
    completions = list(reference_completions(mode, task_set).values())
    output = tmp_path / f"{mode}.jsonl"
    with ScriptedOpenAIServer(completions) as server:
        code = hf_agent.main(["--mode", mode, "--tasks", str(tasks_path), "--base-url", server.base_url,
                              "--model", "scripted", "--prompt-style", style, "--output", str(output),
                              "--no-progress"])
    assert code == 0
    assert {r["_path"] for r in server.requests} == {path}
    first = server.requests[0]
    if mode == "run":
        assert first["stop"] == ["Task:"] and first["prompt"].endswith("I will use the following")
    else:
        assert first["stop"] == ["Human:", "====="] and first["messages"][-1]["role"] == "user"
        assert completions[0].strip() in server.requests[1]["messages"][-1]["content"]  # the carried transcript
    assert json.loads(output.with_suffix(".json").read_text())["scores"] == {
        "tool_selection": 100.0, "tool_used": 100.0, "code": 100.0}


def test_run_mode_resumes_and_sends_the_right_prompts(tasks_path: Path, task_set: TaskSet, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    completions = reference_completions("run", task_set)
    ids = list(completions)
    output = tmp_path / "run.jsonl"
    write_jsonl(output, {k: completions[k] for k in ids[:10]})
    with output.open("a") as f:
        f.write('{"id": "run/9/0", "compl')  # a line cut short by a crash: ignored, the item is redone
    llm = ScriptedLLM([completions[k] + "Task: an invented next task" for k in ids[10:]])
    monkeypatch.setattr(hf_agent.h, "make_llm", lambda args: llm)
    code = hf_agent.main(["--mode", "run", "--tasks", str(tasks_path), "--model", "m", "--base-url", "http://x",
                          "--output", str(output), "--no-progress"])
    assert code == 0
    assert len(llm.calls) == 17  # only the unfinished items were generated
    prompt, stop = llm.calls[0]
    assert stop == ["Task:"]
    assert prompt.endswith(f'Task: "{task_set.run[10].problem.task}"\n\nI will use the following')
    records = [json.loads(line) for line in output.read_text().splitlines() if line.endswith("}")]
    assert len({r["id"] for r in records}) == 27
    assert json.loads(output.with_suffix(".json").read_text())["scores"]["code"] == 100.0


def test_chat_mode_resumes_mid_conversation_with_the_recorded_history(tasks_path: Path, task_set: TaskSet,
                                                                       tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    completions = reference_completions("chat", task_set)
    ids = list(completions)
    output = write_jsonl(tmp_path / "chat.jsonl", {ids[0]: completions[ids[0]]})  # chat/0/0/0 done
    llm = ScriptedLLM([completions[k] for k in ids[1:]])
    monkeypatch.setattr(hf_agent.h, "make_llm", lambda args: llm)
    assert hf_agent.main(["--mode", "chat", "--tasks", str(tasks_path), "--model", "m", "--base-url", "u",
                          "--output", str(output), "--no-progress"]) == 0
    prompt, stop = llm.calls[0]
    assert stop == ["Human:", "====="]
    assert completions[ids[0]] in prompt  # the recorded first answer is in the transcript of step 2
    assert prompt.endswith(f"Human: {task_set.chat[1].problem.task}\n\nAssistant: ")
    assert json.loads(output.with_suffix(".json").read_text())["scores"]["code"] == 100.0


class HoldingServer(ScriptedOpenAIServer):
    """The scripted server, holding request number `hold_at` (0-based) unanswered until released: the client is
    then known to be waiting on that request, with every earlier answer received."""

    def __init__(self, responses: list[str], hold_at: int) -> None:
        super().__init__(responses)
        self.hold_at, self.held, self.release = hold_at, threading.Event(), threading.Event()

    def _next(self, body: dict) -> tuple[int, object]:
        if len(self.requests) == self.hold_at:
            self.held.set()
            self.release.wait(60)
        return super()._next(body)


def test_sigkill_mid_conversation_then_rerun_resumes_without_duplicates(tasks_path: Path, task_set: TaskSet,
                                                                       tmp_path: Path) -> None:
    """A real `python -m benchmarks.hf_agent` process killed (SIGKILL) while waiting on the model in the middle of
    a conversation; the rerun generates only the unfinished steps, carrying the stored ones into the transcript."""
    completions = reference_completions("chat", task_set)
    ids = list(completions)
    chat = task_set.chat
    cut = next(i for i in range(10, len(chat)) if chat[i].conversation == chat[i - 1].conversation)  # mid-way
    output = tmp_path / "chat.jsonl"

    def command(url: str) -> list[str]:
        return [sys.executable, "-m", "benchmarks.hf_agent", "--mode", "chat", "--tasks", str(tasks_path),
                "--base-url", url, "--model", "scripted", "--prompt-style", "chat", "--output", str(output),
                "--no-progress"]

    with HoldingServer(list(completions.values()), hold_at=cut) as server:
        proc = subprocess.Popen(command(server.base_url), cwd=REPO, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            assert server.held.wait(60), "the run never reached the held request"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            server.release.set()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert [json.loads(line)["id"] for line in output.read_text().splitlines()] == ids[:cut]  # all answered steps
    with output.open("a") as f:
        f.write(json.dumps({"id": ids[cut], "completion": completions[ids[cut]]})[:30])  # a line torn mid-write
    with ScriptedOpenAIServer([completions[k] for k in ids[cut:]]) as server:
        rerun = subprocess.run(command(server.base_url), cwd=REPO, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert len(server.requests) == len(ids) - cut  # only the unfinished steps were generated
    resumed = server.requests[0]["messages"][-1]["content"]
    assert completions[ids[cut - 1]].strip() in resumed  # the stored previous step is in the transcript
    assert resumed.rstrip().endswith(f"Human: {task_set.chat[cut].problem.task}\n\nAssistant:")
    assert [json.loads(line)["id"] for line in output.read_text().splitlines()] == ids  # each step once
    assert json.loads(output.with_suffix(".json").read_text())["scores"] == {
        "tool_selection": 100.0, "tool_used": 100.0, "code": 100.0}  # the variables of stored steps carried over


def test_a_second_run_on_the_same_output_is_refused(tasks_path: Path, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    output = tmp_path / "run.jsonl"
    with h.ResultStore(output):  # a run in progress holds the file
        assert hf_agent.main(["--mode", "run", "--tasks", str(tasks_path), "--model", "m", "--base-url", "u",
                              "--output", str(output), "--no-progress"]) == 2
    assert "in use by another run" in capsys.readouterr().err
    assert output.read_text() == ""


def test_given_templates_and_tool_descriptions_make_the_exact_prompt(tasks_path: Path, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(tasks_path.read_text())
    for name, spec in data["tools"].items():
        spec["description"] = f"described {name}"
    custom_tasks = tmp_path / "tasks.json"
    custom_tasks.write_text(json.dumps(data))
    template = tmp_path / "run_prompt.txt"
    template.write_text('Tools:\n<<all_tools>>\n\nTask: "<<prompt>>"\n\nI will use the following')
    llm = ScriptedLLM([" nothing\nAnswer:\nx = 1"], cycle=True)
    monkeypatch.setattr(hf_agent.h, "make_llm", lambda args: llm)
    assert hf_agent.main(["--mode", "run", "--tasks", str(custom_tasks), "--model", "m", "--base-url", "u",
                          "--run-template", str(template), "--output", str(tmp_path / "o.jsonl"),
                          "--no-progress"]) == 0
    tool_lines = "\n".join(f"- {name}: described {name}" for name in data["tools"])
    first_task = data["run"][0]["task"][0]
    assert llm.calls[0][0] == f'Tools:\n{tool_lines}\n\nTask: "{first_task}"\n\nI will use the following'
    template.write_text("Task: <<prompt>> with <<all_tools>>")  # does not end with the cue
    assert hf_agent.main(["--mode", "run", "--tasks", str(custom_tasks), "--model", "m", "--base-url", "u",
                          "--run-template", str(template), "--output", str(tmp_path / "o2.jsonl")]) == 2
    assert "must end with 'I will use the following'" in capsys.readouterr().err


def test_bad_input_gets_a_clear_error(tasks_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = hf_agent.main(["--mode", "run", "--tasks", str(tmp_path / "nope.json"), "--replay", "x"])
    assert missing == 2 and "task file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert hf_agent.main(["--mode", "run", "--tasks", str(bad), "--replay", "x"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    partial = write_jsonl(tmp_path / "partial.jsonl", {"run/0/0": " `translator`\nAnswer:\nx"})
    assert hf_agent.main(["--mode", "run", "--tasks", str(tasks_path), "--replay", str(partial),
                          "--no-progress", "--results", str(tmp_path / "r.json")]) == 2
    assert "no completion for item 'run/0/1'" in capsys.readouterr().err
    assert hf_agent.main(["--mode", "run", "--tasks", str(tasks_path), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "--backend transformers needs --model" in capsys.readouterr().err
    assert hf_agent.main(["--mode", "run", "--tasks", str(tasks_path), "--model", "/models/qwen",
                          "--api-key", "k", "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "--api-key applies to --backend openai, not transformers" in capsys.readouterr().err
    uneven = tmp_path / "uneven.json"
    uneven.write_text(json.dumps({"run": [], "tools": {}, "chat": [[
        {"task": ["a", "b"], "inputs": [], "answer": "x"}, {"task": ["c"], "inputs": [], "answer": "y"}]]}))
    with pytest.raises(ConfigurationError, match="same number of phrasings"):
        load_task_set(uneven)


def test_fake_tools_follow_the_raising_rules(task_set: TaskSet) -> None:
    tools = fake_tool_functions(task_set.tools)
    # transformers 4.35's image_segmenter checks nothing (evaluate_agent.py lines 82-83)
    assert tools["image_segmenter"]("pic", "cat") == "This is the mask of cat in pic"
    assert tools["text_classifier"]("t", labels=["a", "b"]) == "This is the classification of t along ['a', 'b']."
    assert tools["video_generator"]("p") == "A video of p"
    assert tools["transcriber"]("a sound file") == "This is the transcribed text from a sound file."
    for name, bad_call in [("transcriber", ("noise",)), ("image_captioner", ("pic",)), ("image_qa", ("pic", "q")),
                           ("image_transformer", ("pic", "p"))]:
        with pytest.raises(ValueError, match="is not a"):
            tools[name](*bad_call)
    assert tools["document_qa"]("scan", "q") == "This is the answer to q from the document scan."
    with pytest.raises(TypeError):
        tools["translator"]("only one argument")
