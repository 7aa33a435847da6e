"""Constrained tool calls (`qwen_agent.llm.local.call_grammar`) on a tiny random-weight Qwen2 checkpoint: whatever the
random model wants, a call it is held to parses and validates against the tool's schema; free text is left alone;
a forced call is held from its first token; the continuous batch holds its rows the same way. Every call shape the
Hermes reader takes engages the grammar: `<tool_call>`, a ```json fence, a bare object at a line's start."""

from __future__ import annotations

import json
import logging

import pytest

from qwen_agent.formats import get_format
from qwen_agent.formats.json_calls import call_from_object, read_object_at
from qwen_agent.function_calling import build_request
from qwen_agent.schema import CallConstraint, ChatPrompt, GenerationConfig, Message, ToolSpec

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("llguidance")
jsonschema = pytest.importorskip("jsonschema")

from qwen_agent.llm.local.transformers import TransformersLLM  # noqa: E402

WEATHER = ToolSpec(name="get_weather", description="Weather forecast for a city.", parameters={
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12}, "unit": {"type": "string", "enum": ["c", "f"]},
                   "days": {"type": "integer", "minimum": 1, "maximum": 7}},
    "required": ["city", "unit", "days"], "additionalProperties": False})  # fmt: skip
CONVERT = ToolSpec(name="convert", description="Convert an amount of money.", parameters={
    "type": "object", "properties": {"amount": {"type": "number"}, "to": {"type": "string", "enum": ["EUR", "USD"]}},
    "required": ["amount", "to"], "additionalProperties": False})  # fmt: skip
TOOLS = [WEATHER, CONVERT]
QUESTION = [Message.user("What's the weather in Paris for three days?")]
SAMPLED = [GenerationConfig(max_tokens=80, temperature=1.0, seed=seed) for seed in range(3)]


@pytest.fixture(scope="module")
def tiny(tiny_qwen2_dir):
    with TransformersLLM(str(tiny_qwen2_dir), dtype="float32", config=GenerationConfig(max_tokens=80),
                         constrain_calls=True) as llm:
        yield llm


def valid(call) -> bool:
    """The call names an offered tool and its arguments are an object its schema accepts."""
    tool = {t.name: t for t in TOOLS}.get(call.name)
    args = call.parsed_arguments()
    if tool is None or not isinstance(args, dict):
        return False
    try:
        jsonschema.validate(args, tool.parameters)
    except jsonschema.ValidationError:
        return False
    return True


def turn(llm, fmt: str, choice, config: GenerationConfig, constrained: bool = True):
    request = build_request(get_format(fmt), TOOLS, choice)
    rendered = request.render(QUESTION)
    llm.constrain_calls = constrained
    try:
        out = llm.generate(rendered.prompt, stop=rendered.stop, config=config)
    finally:
        llm.constrain_calls = True
    return request.read(out.text, out.usage), out


@pytest.mark.parametrize("fmt", ["hermes", "react"])
@pytest.mark.parametrize("config", SAMPLED, ids=lambda c: f"seed{c.seed}")
def test_a_required_call_is_valid_from_the_first_token(tiny, fmt, config):
    """tool_choice "required": the prefill opens the call, so the grammar holds it from the first token: an
    offered name, every required key, the enum's values, an integer in range, nothing more."""
    result, out = turn(tiny, fmt, "required", config)
    calls = result.message.tool_calls or []
    assert len(calls) == 1 and valid(calls[0]), result.raw
    if fmt == "react":  # the grammar ends the call with the stop string
        assert out.stop_string == "Observation:"


@pytest.mark.parametrize("config", SAMPLED, ids=lambda c: f"seed{c.seed}")
def test_a_named_call_is_that_tool_with_valid_arguments(tiny, config):
    result, _ = turn(tiny, "hermes", "convert", config)
    calls = result.message.tool_calls or []
    assert [c.name for c in calls] == ["convert"] and valid(calls[0]), result.raw
    assert json.loads(calls[0].arguments)["to"] in ("EUR", "USD")


def test_without_the_constraint_the_random_model_writes_no_valid_call(tiny):
    """The check above can fail: the same forced turns unconstrained give no valid call."""
    for config in SAMPLED:
        result, _ = turn(tiny, "hermes", "required", config, constrained=False)
        assert not any(valid(c) for c in result.message.tool_calls or []), result.raw


def test_free_text_is_not_constrained(tiny):
    """tool_choice "auto": the model writes no call opener, and its text is exactly what it writes without
    the constraint (greedy)."""
    on, out_on = turn(tiny, "hermes", "auto", GenerationConfig(max_tokens=40))
    off, out_off = turn(tiny, "hermes", "auto", GenerationConfig(max_tokens=40), constrained=False)
    assert out_on.text == out_off.text and len(out_on.text) > 20
    assert "<tool_call>" not in out_on.text


def test_a_call_the_model_opens_mid_text_is_held_then_free_again(tiny):
    """Text before the opener is free; after it, the grammar; after the closer, free again (a second call
    opens the grammar again). Driven token by token through the guide as the decode loop drives it."""
    import torch

    tokenizer = tiny.codec.tokenizer
    guide = tiny._call_guide(ChatPrompt(QUESTION, calls=CallConstraint(format="hermes", tools=tuple(TOOLS))))
    vocab = tiny.model.config.vocab_size
    call = '<tool_call>\n{"name": "convert", "arguments": {"amount": 2.5, "to": "EUR"}}\n</tool_call>'
    pieces = ["Let me look that up. ", call, "\nAnd again: ", call]  # under the grammar a call ends at its
    # closer, so the model cannot write a token that runs past it (">\n"): each piece is tokenized alone
    tokens = [t for piece in pieces for t in tokenizer(piece, add_special_tokens=False)["input_ids"]]
    seen_active = []
    for token in tokens:
        logits = torch.zeros(1, vocab)
        masked = guide.mask(logits)
        if guide.active:
            assert masked[0, token] == 0 and bool(torch.isinf(masked).any())  # the call's own token stays
        else:
            assert torch.equal(masked, logits)  # free text: nothing masked
        seen_active.append(guide.active)
        guide.advance(token)
    assert guide.calls == 2 and not guide.active
    assert seen_active[:5] == [False] * 5 and any(seen_active)


def test_an_unenforceable_schema_falls_back_to_any_object(tiny, caplog):
    """A parameter schema llguidance refuses (a look-behind pattern) leaves the call an object, with a warning."""
    odd = ToolSpec(name="odd", parameters={"type": "object", "properties": {"x": {"type": "string",
                                                                             "pattern": "(?<=a)b"}}})
    request = build_request(get_format("hermes"), [odd], "required")
    rendered = request.render(QUESTION)
    with caplog.at_level(logging.WARNING, logger="qwen_agent.llm.local.call_grammar"):
        out = tiny.generate(rendered.prompt, config=SAMPLED[0])
    calls = request.read(out.text).message.tool_calls or []
    assert [c.name for c in calls] == ["odd"] and isinstance(calls[0].parsed_arguments(), dict), out.text
    assert "cannot be enforced" in caplog.text


def test_constrain_calls_false_leaves_forced_calls_alone(tiny_qwen2_dir):
    with TransformersLLM(str(tiny_qwen2_dir), dtype="float32", constrain_calls=False) as llm:
        prompt = build_request(get_format("hermes"), TOOLS, "required").render(QUESTION).prompt
        assert llm._call_guide(prompt) is None


def test_qwen3_coder_calls_are_not_constrained(tiny):
    prompt = ChatPrompt(QUESTION, calls=CallConstraint(format="qwen3_coder", tools=tuple(TOOLS)))
    assert tiny._call_guide(prompt) is None


def test_batch_rows_are_constrained_each_on_its_own(tiny):
    """In a continuous batch, a forced-call row is held to the grammar while a free row beside it writes what
    it writes alone."""
    request = build_request(get_format("hermes"), TOOLS, "required")
    forced = request.render(QUESTION).prompt
    free = [Message.user("Tell me a story.")]
    alone = tiny.generate(free, config=GenerationConfig(max_tokens=30)).text
    rows = tiny.generate_batch([forced, free], config=GenerationConfig(max_tokens=60))
    calls = request.read(rows[0].text).message.tool_calls or []
    assert len(calls) == 1 and valid(calls[0]), rows[0].text
    assert rows[1].text.startswith(alone[:20]) and len(alone) > 20


# --- untagged Hermes calls: a ```json fence, a bare object at a line's start ----------------------------------
PRETTY_FENCE = '```json\n{\n  "name": "convert",\n  "arguments": {\n    "amount": 2.5,\n    "to": "EUR"\n  }\n}\n```'
ONE_LINE = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c", "days": 3}}'


def hermes_guide(llm, prefill: str = ""):
    return llm._call_guide(ChatPrompt(QUESTION, calls=CallConstraint(format="hermes", tools=tuple(TOOLS),
                                                                     prefill=prefill)))


def feed(llm, guide, pieces: list[str]) -> list[tuple[str, bool, bool]]:
    """Each piece tokenized alone and fed to `guide` token by token, as the decode loop feeds it: (token text,
    constrained, allowed by the mask) per token. A refused token is fed anyway (the guide then frees the turn)."""
    import torch

    tokenizer = llm.codec.tokenizer
    vocab = llm.model.config.vocab_size
    seen = []
    for piece in pieces:
        for token in tokenizer(piece, add_special_tokens=False)["input_ids"]:
            masked = guide.mask(torch.zeros(1, vocab))
            seen.append((tokenizer.decode([token]), guide.active, bool(masked[0, token] == 0)))
            guide.advance(token)
    return seen


def allowed_throughout(seen) -> bool:
    return all(ok for _, _, ok in seen)


@pytest.mark.parametrize("call", [PRETTY_FENCE, ONE_LINE, "```json\n" + ONE_LINE + "\n```",
                                  '{\n  "name": "convert",\n  "arguments": {"amount": 1, "to": "USD"}\n}'],
                         ids=["pretty-fence", "bare-one-line", "one-line-fence", "bare-pretty"])
def test_an_untagged_call_engages_the_grammar_and_frees_the_turn_after_it(tiny, call):
    """The shapes the real 0.5B and 1.5B write: held from the name on (every token of the call allowed, the
    grammar active), free again after the object (or the fence) closes, for the text and a second call."""
    guide = hermes_guide(tiny)
    seen = feed(tiny, guide, ["I will check.\n", call, "\nDone.\n", call])
    assert allowed_throughout(seen), [t for t in seen if not t[2]]
    assert guide.calls == 2 and not guide.active
    active = [text for text, on, _ in seen if on]
    assert any("arguments" in text for text in active)  # held from the name on
    assert not any(on for text, on, _ in seen if "Done" in text or "check" in text)  # the text around: free


@pytest.mark.parametrize("opener", ['```json\n{\n  "name": "convert"', '{"name": "convert"'],
                         ids=["fence", "bare"])
@pytest.mark.parametrize("bad", [', "arguments": {"amount": 2.5, "to": "EUR", "type": "string"}}',
                                 ', "arguments": {"amount": "2.5", "to": "EUR"}}',
                                 ', "arguments": {"amount": 2.5, "to": "GBP"}}',
                                 ', "arguments": {"amount": 2.5}}',
                                 ', "arguments": {"amount": 2.5, "to": "EUR"}, "type": "function"}'],
                         ids=["extra-key", "string-for-number", "not-in-enum", "required-key-missing",
                              "extra-key-beside-arguments"])
def test_an_untagged_call_cannot_break_the_tools_schema(tiny, opener, bad):
    """Once the name is written, the token that would start an extra key, a wrong type, a value outside the
    enum, or close the arguments before a required key is refused by the mask."""
    guide = hermes_guide(tiny)
    seen = feed(tiny, guide, [opener + bad])
    refused = [(text, on) for text, on, ok in seen if not ok]
    assert refused and all(on for _, on in refused), seen  # refused by the grammar, inside the call
    assert guide.calls == 1
    good = feed(tiny, hermes_guide(tiny), [opener + ', "arguments": {"amount": 2.5, "to": "EUR"}}'])
    assert allowed_throughout(good)


def test_a_second_call_in_the_same_fence_is_held_too(tiny):
    guide = hermes_guide(tiny)
    two = '```json\n{"name": "convert", "arguments": {"amount": 1, "to": "EUR"}}\n{"name": "get_weather", ' \
          '"arguments": {"city": "Rome", "unit": "f", "days": 2}}\n```'
    assert allowed_throughout(feed(tiny, guide, [two]))
    assert not guide.active
    bad = '```json\n{"name": "convert", "arguments": {"amount": 1, "to": "EUR"}}\n{"name": "search", ' \
          '"arguments": {}}\n```'
    assert not allowed_throughout(feed(tiny, hermes_guide(tiny), [bad]))  # only offered tools in there


@pytest.mark.parametrize("opener", ['```json\n{\n  "name": "', '{"name": "'], ids=["fence", "bare"])
def test_an_untagged_call_is_held_once_it_names_an_offered_tool(tiny, opener):
    """A name no tool has is left alone (the 0.5B answers a translation with `{"name": "good morning", ...}`;
    holding it to an offered tool ran `get_weather("Paris")`); an offered name holds the rest to its schema."""
    guide = hermes_guide(tiny)
    seen = feed(tiny, guide, [opener + 'compare_populations", "arguments": {"extra": 1}}'])
    assert not any(on for _, on, _ in seen) and guide.calls == 0
    stray = feed(tiny, hermes_guide(tiny), [opener + 'convert", "arguments": {"amount": 3, "to": "USD", "x": 1}}'])
    assert any(on and not ok for _, on, ok in stray)  # the stray key is refused
    assert allowed_throughout(feed(tiny, hermes_guide(tiny), [opener + 'convert", "arguments": '
                                                                       '{"amount": 3, "to": "USD"}}']))


@pytest.mark.parametrize("text", ['```json\n{"city": "Paris"}\n```', '```json\n[1, 2]\n```',
                                  'Use {"name": "convert"} like this.', "```python\nprint(1)\n```",
                                  '{"answer": "Paris"}'],
                         ids=["fence-without-name", "fenced-list", "mid-line", "code", "object-without-name"])
def test_json_that_is_not_a_call_stays_free(tiny, text):
    """A fence of other JSON or code, an object that does not start with a name, an object in the middle of a
    line (the reader counts none of them as a call): never constrained."""
    guide = hermes_guide(tiny)
    seen = feed(tiny, guide, ["Here it is:\n", text, "\n"])
    assert not any(on for _, on, _ in seen) and guide.calls == 0


@pytest.mark.parametrize("prefill", ['```json\n{\n  "name": "convert"', '{"name": "get_weather"'],
                         ids=["fence", "bare"])
def test_the_random_model_writes_a_valid_untagged_call_once_it_is_opened(tiny, prefill):
    """The turn starts with an untagged call's head (as the real models write it): whatever the random model
    wants, the calls the Hermes reader finds are valid (in a fence it may add calls: the last one may be cut by
    the token limit); without the grammar, none is."""

    def untagged_calls(text: str) -> list:
        if text.startswith("```"):  # the fence: its calls as the reader finds them
            return list(get_format("hermes").parse(text, tools=TOOLS).tool_calls)
        # a bare object: the one the grammar held (the random model writes on after it, on the same line, and
        # the reader takes no object with text after it on its line)
        obj, _ = read_object_at(text, 0)
        call = call_from_object(obj, TOOLS, trusted=True)
        return [call] if call else []

    request = build_request(get_format("hermes"), TOOLS, "auto")
    messages = [*request.render(QUESTION).prompt, Message.assistant(prefill)]
    constraint = CallConstraint(format="hermes", tools=tuple(TOOLS), prefill=prefill)
    for constrained in (True, False):
        tiny.constrain_calls = constrained
        try:
            outs = [tiny.generate(ChatPrompt(messages, calls=constraint), config=config) for config in SAMPLED]
        finally:
            tiny.constrain_calls = True
        for out in outs:
            calls = untagged_calls(prefill + out.text)
            if constrained:  # every call but the last is finished; the first one too (the token limit is
                # far beyond one call)
                assert calls and valid(calls[0]) and all(valid(c) for c in calls[:-1]), prefill + out.text
            else:
                assert not any(valid(c) for c in calls), prefill + out.text


def test_calls_are_constrained_by_default_where_llguidance_is_installed(tiny_qwen2_dir):
    """The default (None) turns the grammar on, llguidance being installed here; False keeps it off."""
    with TransformersLLM(str(tiny_qwen2_dir), dtype="float32") as llm:
        assert llm.constrain_calls is True
        assert llm._call_guide(build_request(get_format("hermes"), TOOLS, "auto").render(QUESTION).prompt)
