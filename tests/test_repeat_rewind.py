"""A call the episode already ran is taken back while the model writes it (`CallConstraint.ran`, the local
backend's `CallGuide`): the row goes back to where the call opened, that token is banned there, and the model
writes its next-best reply in the same turn.

A random-weight model never writes a call by itself, so the tiny Qwen2 checkpoint is *steered*: forward hooks
add a bonus to the logits of the next token of given replies (the first reply most, the next less, ...) while
what the row wrote so far is a prefix of them. Everything else is the real engine: the model's forward, its KV
cache, the call grammar, the decode loops. A banned token then lets the next reply through, as a real model's
second choice would.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import replace

import pytest

from qwen_agent.formats import get_format
from qwen_agent.function_calling import build_request
from qwen_agent.schema import GenerationConfig, Message, ToolCall, ToolSpec

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("llguidance")

from qwen_agent.llm.local.transformers import TransformersLLM  # noqa: E402

WEATHER = ToolSpec(name="get_weather", description="Weather for a city.", parameters={
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]})  # fmt: skip
QUESTION = Message.user("What's the weather in Cairo?")
CAIRO = ToolCall(name="get_weather", arguments='{"city": "Cairo"}', id="call_1")
FENCED = '```json\n{\n  "name": "get_weather",\n  "arguments": {\n    "city": "Cairo"\n  }\n}\n```'
TAGGED = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Cairo"}}\n</tool_call>'
BARE = 'Let me check.\n{"name": "get_weather", "arguments": {"city": "cairo "}}'  # the same call, normalised
ANSWER = "It is sunny in Cairo, 30 degrees."
GREEDY = GenerationConfig(max_tokens=60)
LIMIT = 400  # steered rows are shorter than this; a longer prompt is left alone


@pytest.fixture(scope="module")
def tiny(tiny_qwen2_dir):
    with TransformersLLM(str(tiny_qwen2_dir), dtype="float32", config=GREEDY, constrain_calls=True) as llm:
        llm.steer = Steering(llm)
        yield llm
        llm.steer.remove()


class Steering:
    """Forward hooks that make the model write one of `replies` (set per test), in order of preference."""

    def __init__(self, llm: TransformersLLM) -> None:
        self.tokenizer = llm.codec.tokenizer
        self.eos = llm.codec.tokenizer.convert_tokens_to_ids("<|im_end|>")
        self.opening = self.tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        self.replies: list[list[int]] = []
        self.then_free = False
        self.history: list[int] = []  # the steered sequence, by position (a reused prefix is not fed again)
        self._rows: list[int | None] = []
        self._hooks = [llm.model.register_forward_pre_hook(self._before, with_kwargs=True),
                       llm.model.register_forward_hook(self._after, with_kwargs=True)]

    def write(self, *replies: str, then_free: bool = False) -> None:
        """Steer towards `replies`; with `then_free`, a finished reply is not ended: the model goes on by itself."""
        self.replies = [self.tokenizer(r, add_special_tokens=False)["input_ids"] for r in replies]
        self.then_free = then_free

    def remove(self) -> None:
        for hook in self._hooks:
            hook.remove()

    def _before(self, module, args, kwargs):
        ids = kwargs["input_ids"]
        positions = kwargs.get("position_ids")
        if positions is None:
            cache = kwargs.get("cache", kwargs.get("past_key_values"))
            start = cache.get_seq_length() if cache is not None else 0
            positions = [[start + j for j in range(ids.shape[1])]]
        else:
            positions = positions.tolist()
        self._rows = []
        for row, at in zip(ids.tolist(), positions, strict=True):
            last = at[-1]
            if last >= LIMIT:
                self._rows.append(None)
                continue
            del self.history[at[0]:]
            self.history.extend([-1] * (at[0] - len(self.history)) + row)
            self._rows.append(last)

    def _after(self, module, args, kwargs, output):
        start = max((i for i in range(len(self.history)) if self.history[i : i + len(self.opening)] == self.opening),
                    default=None)
        if start is None:
            return output
        written = self.history[start + len(self.opening) :]
        for i, last in enumerate(self._rows):
            if last is None:
                continue
            for rank, reply in enumerate(self.replies):
                if reply[: len(written)] == written and not (self.then_free and len(written) == len(reply)):
                    token = reply[len(written)] if len(written) < len(reply) else self.eos
                    output.logits[i, -1, token] += 100.0 - 10 * rank
        return output


def request(avoid: bool = True, fmt: str = "hermes"):
    req = build_request(get_format(fmt), [WEATHER], "auto")
    return replace(req, avoid_repeats=avoid)


def after_result(call: ToolCall = CAIRO) -> list[Message]:
    return [QUESTION, Message.assistant(None, [call]),
            Message.tool('{"city": "Cairo", "sky": "sunny", "celsius": 30}', tool_call_id=call.id, name=call.name)]


def generate(llm, messages, avoid: bool = True, fmt: str = "hermes"):
    rendered = request(avoid, fmt).render(messages)
    chunks = list(llm.stream(rendered.prompt, stop=list(rendered.stop), config=GREEDY))
    return "".join(c.text for c in chunks), chunks[-1].usage, [c.text for c in chunks if c.text]


def test_the_constraint_lists_this_user_turns_answered_calls_only_when_asked():
    asked = request().render(after_result()).prompt.calls
    assert [c.identity() for c in asked.ran] == [CAIRO.identity()]
    assert request(avoid=False).render(after_result()).prompt.calls.ran == ()
    unanswered = [QUESTION, Message.assistant(None, [CAIRO])]
    assert request().render(unanswered).prompt.calls.ran == ()
    earlier_question = [*after_result(), Message.assistant("Sunny."), Message.user("And in Paris?")]
    assert request().render(earlier_question).prompt.calls.ran == ()


@pytest.mark.parametrize(("call", "expected"), [(FENCED, ANSWER), (TAGGED, ANSWER),
                                               (BARE, "Let me check. " + ANSWER)], ids=["fence", "tagged", "bare"])
def test_a_repeated_call_is_taken_back_and_the_model_writes_its_next_best_reply(tiny, call, expected):
    tiny.steer.write(call, expected)
    text, usage, _ = generate(tiny, after_result(), avoid=False)
    assert text == call and usage.repeats_avoided == 0  # the steering works: the model writes the call
    tiny.steer.write(call, expected)
    text, usage, pieces = generate(tiny, after_result())
    assert text == expected and usage.repeats_avoided == 1  # the text before the call is kept
    assert "get_weather" not in "".join(pieces)  # what was taken back was never streamed
    assert usage.completion_tokens == len(tiny.codec.tokenizer(expected, add_special_tokens=False)["input_ids"])


def test_a_call_with_other_arguments_is_written(tiny):
    paris = ToolCall(name="get_weather", arguments='{"city": "Paris"}', id="call_1")
    tiny.steer.write(FENCED, ANSWER)
    text, usage, _ = generate(tiny, after_result(paris))
    assert text == FENCED and usage.repeats_avoided == 0


def test_a_text_answer_is_untouched(tiny):
    tiny.steer.write(ANSWER)
    on, usage, pieces_on = generate(tiny, after_result())
    tiny.steer.write(ANSWER)
    off, _, pieces_off = generate(tiny, after_result(), avoid=False)
    assert on == off == ANSWER and usage.repeats_avoided == 0
    assert pieces_on == pieces_off  # streamed the same, token by token


def test_at_most_two_calls_are_taken_back_per_turn(tiny):
    """Three ways to open the same call: the first two are taken back, the third is left as written."""
    third = "Calling.\n" + TAGGED
    tiny.steer.write(FENCED, TAGGED, third, ANSWER)
    text, usage, _ = generate(tiny, after_result())
    assert text == third and usage.repeats_avoided == 2


def test_a_repeated_react_action_is_taken_back(tiny):
    action = 'Thought: I will look it up.\nAction: get_weather\nAction Input: {"city": "Cairo"}\nObservation:'
    answer = "Thought: I will look it up.\nFinal Answer: " + ANSWER  # the model's second choice after the thought
    tiny.steer.write(action, answer)
    text, usage, _ = generate(tiny, after_result(), fmt="react")
    assert usage.repeats_avoided == 1 and text.endswith(ANSWER) and "Action:" not in text


def test_in_a_batch_only_the_repeating_row_is_taken_back(tiny):
    """Two rows decode together; the steered one repeats its call and is cut back (its cache columns turned
    into padding), the other writes exactly what it writes alone. After the answer the steered row goes on by
    itself, and writes what it writes when it never wrote the call (alone and in the batch): the cut cache is
    the cache of a turn that never held the call."""
    long_prompt = [Message.user("Tell me a long story about the sea. " * 100)]
    other_alone = tiny.generate(long_prompt, config=GREEDY).text
    rendered = request().render(after_result())
    tiny.steer.write(ANSWER, then_free=True)
    never = tiny.generate(rendered.prompt, stop=list(rendered.stop), config=GREEDY)
    tiny.steer.write(FENCED, ANSWER, then_free=True)
    alone = tiny.generate(rendered.prompt, stop=list(rendered.stop), config=GREEDY)
    tiny.steer.write(FENCED, ANSWER, then_free=True)
    batch = tiny.open_batch()
    rows = [batch.join(rendered.prompt, list(rendered.stop), GREEDY), batch.join(long_prompt, [], GREEDY)]
    while len(batch):
        batch.step()
    texts = ["".join(c.text for c in row.drain()) for row in rows]
    assert rows[1].prompt_tokens > LIMIT  # so the steering leaves it alone
    assert never.text.startswith(ANSWER) and len(never.text) > len(ANSWER) + 20
    assert texts == [never.text, other_alone] and alone.text == never.text
    assert rows[0].guide.rewinds == 1 and alone.usage.repeats_avoided == 1


def test_the_agent_ends_in_two_turns_and_says_it_took_a_repeat_back(tiny):
    from qwen_agent import Agent, EpisodePolicy, tool

    ran = []

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        ran.append(city)
        return json.dumps({"city": city, "sky": "sunny", "celsius": 30})

    tiny.steer.write(FENCED, ANSWER)
    on = Agent(tiny, [get_weather], tool_format="hermes", policy=EpisodePolicy(avoid_repeats=True))
    result = on.run_result(QUESTION.content)
    turns = [s for s in result.steps if s.kind == "turn"]
    notices = [s.decision for s in result.steps if s.kind == "notice"]
    assert result.answer == ANSWER and len(turns) == 2 and ran == ["Cairo"]
    assert notices == ["repeat_avoided"] and result.usage.repeats_avoided == 1

    ran.clear()
    tiny.steer.write(FENCED, ANSWER)
    result = Agent(tiny, [get_weather], tool_format="hermes",
                   policy=EpisodePolicy(avoid_repeats=False)).run_result(QUESTION.content)  # turned off
    assert "repeat_not_run" in [s.decision for s in result.steps] and ran == ["Cairo"]
    assert len([s for s in result.steps if s.kind == "turn"]) == 3 and result.usage.repeats_avoided == 0


def test_a_reply_in_place_of_a_repeat_that_uses_no_result_gets_the_answer_turn(tiny):
    """The real 0.5B, after "no data for this city", steered off its repeated call, wrote "currently cloudy"."""
    from qwen_agent import Agent, EpisodePolicy, tool

    ran = []

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        ran.append(city)
        return "no data for this city"

    tiny.steer.write(FENCED, ANSWER)  # ANSWER ("sunny ... 30 degrees") holds nothing the result said
    llm_calls = []
    tiny_generate = tiny.generate

    def recording(prompt, **kw):  # noqa: ANN001, ANN003, ANN202 - records what each turn was asked with
        llm_calls.append(prompt)
        return tiny_generate(prompt, **kw)

    tiny.generate = recording
    try:
        result = Agent(tiny, [get_weather], tool_format="hermes",
                       policy=EpisodePolicy(avoid_repeats=True)).run_result(QUESTION.content)
    finally:
        del tiny.generate
    notices = [s.decision for s in result.steps if s.kind == "notice"]
    assert ran == ["Cairo"] and notices == ["repeat_avoided", "answer_turn"]
    assert len([s for s in result.steps if s.kind == "turn"]) == 3
    assert "no data for this city" in (llm_calls[-1][-1].content or "")  # the answer turn states the result


@pytest.mark.real_model
@pytest.mark.slow
def test_the_real_qwen_answers_the_weather_question_in_two_turns(real_qwen_gguf):
    """benchmarks.real_tool_use's "What's the temperature in Cairo?" on the 0.5B: with the result, its second turn
    starts the same call again (measured: a third, tool-less turn then answered); taken back, that turn answers."""
    pytest.importorskip("gguf")
    from benchmarks.tool_use.real_tool_use import DATA, run_task
    from qwen_agent import EpisodePolicy
    from qwen_agent.llm import get_llm
    from qwen_agent.settings import Settings

    task = next(t for t in map(json.loads, DATA.read_text().splitlines()) if t["id"] == "weather_cairo")
    with get_llm("transformers", model=str(real_qwen_gguf), gguf_cache_dir=Settings.from_env().converted_dir) as llm:
        config = llm.checkpoint_generation_config(greedy=True)
        record = run_task(llm, "auto", task, config, contextlib.nullcontext(),
                          policy=EpisodePolicy(avoid_repeats=True))
    assert record["executions"] == [["get_weather", {"city": "Cairo"}]], record["turns"]
    assert record["model_turns"] == 2 and record["exact"], record["turns"]
    assert "31" in record["answer"]
