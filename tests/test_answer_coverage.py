"""An answer that speaks of a part of the question no tool was called for is put back once
(`EpisodePolicy.check_answer_coverage`): both real small Qwens answer a two-part question after one call ("The
weather in Paris is 14°C ... The weather in Tokyo is also 14°C", the 1.5B's words). The scripted LLM replays
Hermes text; `uncovered_terms` is checked on cases worked out by hand."""

from __future__ import annotations

import json

import pytest

from qwen_agent import Agent, EpisodePolicy, ScriptedLLM, tool
from qwen_agent.grounding import uncovered_terms
from qwen_agent.schema import Message, ToolCall

RUNS: list[str] = []


@tool
def get_weather(city: str) -> str:
    """Current weather of a city.

    Args:
        city: the city
    """
    RUNS.append(city)
    return f"{city}: " + {"paris": "14°C, light rain", "tokyo": "22°C, clear skies"}[city.lower()]


@pytest.fixture(autouse=True)
def _clear_runs() -> None:
    RUNS.clear()


def call(city: str) -> str:
    return f"<tool_call>\n{json.dumps({'name': 'get_weather', 'arguments': {'city': city}})}\n</tool_call>"


COVERAGE = EpisodePolicy()  # on by default
HALF = "The weather in Paris is 14°C and it's raining. The weather in Tokyo is also 14°C and it's raining."


def run(script: list[str], query: str, policy: EpisodePolicy = COVERAGE, max_steps: int = 3):  # noqa: ANN201
    llm = ScriptedLLM(script)
    return llm, Agent(llm, [get_weather], tool_format="hermes", policy=policy, max_steps=max_steps).run_result(query)


def test_an_answer_about_a_city_no_call_was_made_for_sends_the_model_back_and_it_calls() -> None:
    llm, result = run([call("Paris"), HALF, call("Tokyo"), "Paris: 14°C, rain. Tokyo: 22°C, clear."],
                      query="What's the weather in Paris and in Tokyo?", max_steps=4)
    assert RUNS == ["Paris", "Tokyo"]
    assert [(s.kind, s.decision) for s in result.steps] == [
        ("turn", None), ("observation", None), ("turn", None), ("notice", "uncovered_answer"),
        ("turn", None), ("observation", None), ("turn", None), ("final", None)]
    assert "Tokyo" in (result.steps[3].reason or "")
    third = llm.calls[2][0]  # what is missing, after the restated question; its answer is not read back (the
    assert HALF not in [m.content for m in third]  # real models, shown it, wrote it again word for word)
    assert third[-2].content.startswith("If these results answer my question")
    assert third[-1].content == (
        "No tool has been called for Tokyo yet. If one of the tools serves that part of my question, call it now; "
        "otherwise answer from the results only.\n"
        "My question: What's the weather in Paris and in Tokyo?")
    assert llm.calls[3][0][:len(third)] == third  # the next prompt extends it (prefix caches hold)
    assert result.answer == "Paris: 14°C, rain. Tokyo: 22°C, clear." and HALF not in [m.content for m in result.messages]


def test_put_back_once_then_the_next_answer_is_taken() -> None:
    _, result = run([call("Paris"), HALF, HALF], query="What's the weather in Paris and in Tokyo?")
    assert RUNS == ["Paris"] and result.answer == HALF and result.end == "answer"
    assert [s.decision for s in result.steps].count("uncovered_answer") == 1


@pytest.mark.parametrize(("policy", "max_steps"), [(EpisodePolicy(check_answer_coverage=False), 3), (COVERAGE, 2)])
def test_turned_off_or_without_a_turn_left_the_answer_is_taken(policy: EpisodePolicy, max_steps: int) -> None:
    _, result = run([call("Paris"), HALF], query="What's the weather in Paris and in Tokyo?", policy=policy,
                    max_steps=max_steps)
    assert result.answer == HALF and "uncovered_answer" not in [s.decision for s in result.steps]


def test_on_by_default() -> None:
    assert EpisodePolicy().check_answer_coverage and EpisodePolicy().check_call_figures


def test_an_answer_about_what_the_call_covered_is_taken() -> None:
    _, result = run([call("Paris"), "It is raining in Paris (14°C)."], query="Is it raining in Paris?")
    assert result.answer == "It is raining in Paris (14°C)." and len(result.steps) == 4


def test_the_objection_speaks_chinese() -> None:
    llm, _ = run([call("Paris"), "Paris 14°C，Tokyo 15°C。", "Paris 14°C。"], query="Paris 和 Tokyo 的天气怎么样？")
    assert llm.calls[2][0][-1].content == (
        "还没有为 Tokyo 调用任何工具。如果有工具能回答我问题的这一部分，请现在调用它；否则请只根据结果回答。\n"
        "我的问题：Paris 和 Tokyo 的天气怎么样？")


def calls_and_results(*pairs: tuple[str, dict, str]) -> tuple[list[ToolCall], list[Message]]:
    calls = [ToolCall(name=name, arguments=json.dumps(args)) for name, args, _ in pairs]
    return calls, [Message.tool(text, tool_call_id="c", name=name) for name, _, text in pairs]


@pytest.mark.parametrize(("answer", "question", "ran", "uncovered"), [
    # the 1.5B's answers to two-part questions, after one call
    (HALF, "What's the weather in Paris and in Tokyo?",
     [("get_weather", {"city": "Paris"}, "Paris: 14°C, light rain")], ["Tokyo"]),
    ("The weather in London is 11°C, and 17 * 23 equals 391.", "What is the weather in London, and what is 17 * 23?",
     [("get_weather", {"city": "London"}, "London: 11°C, overcast")], ["17", "23"]),
    ("The conversion of 100 USD to EUR is 92 EUR, and of 100 USD to GBP is 92 GBP.",
     "Convert 100 USD to EUR and 100 USD to GBP.",
     [("convert_currency", {"amount": 100, "from_currency": "USD", "to_currency": "EUR"}, "100 USD = 92 EUR")],
     ["GBP"]),
    # covered: a code that a question word begins (US: USD), figures with digit groups, both cities
    ("250 US dollars is 230 euros.", "Convert 250 US dollars to euros.",
     [("convert_currency", {"amount": 250, "from_currency": "USD", "to_currency": "EUR"}, "250 USD = 230 EUR")], []),
    ("1,000,000 JPY is 6,400 USD.", "Convert 1,000,000 JPY to USD.",
     [("convert_currency", {"amount": 1000000, "from_currency": "JPY", "to_currency": "USD"}, "6,400 USD")], []),
    ("Cairo: 31°C. London: 11°C.", "Is it warmer in Cairo or in London?",
     [("get_weather", {"city": "Cairo"}, "Cairo: 31°C"), ("get_weather", {"city": "London"}, "London: 11°C")], []),
    # words that open a sentence are capitalised anyway; a part the answer does not speak of is not its claim
    ("The answer is 8.", "What's 0.125 times 64? Use the calculator.",
     [("calculator", {"expression": "0.125 * 64"}, "8")], []),
    ("Paris: 14°C.", "What's the weather in Paris and in Tokyo?",
     [("get_weather", {"city": "Paris"}, "Paris: 14°C")], []),
])
def test_uncovered_terms(answer: str, question: str, ran: list, uncovered: list[str]) -> None:
    assert uncovered_terms(answer, question, *calls_and_results(*ran)) == uncovered


# --- a call with figures the conversation never gave (`EpisodePolicy.check_call_figures`) ---------------------
EXECUTED: list[tuple[str, str]] = []


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression.

    Args:
        expression: the expression, e.g. "12 * (3 + 4)"
    """
    EXECUTED.append(("calculator", expression))
    return {"250 * 1.10": "275", "17 * 23": "391"}[expression]


@tool
def convert_currency(amount: float, from_currency: str, to_currency: str) -> str:
    """Convert money between currencies.

    Args:
        amount: how much
        from_currency: ISO code, e.g. USD
        to_currency: ISO code, e.g. EUR
    """
    EXECUTED.append(("convert_currency", f"{amount:g} {from_currency} {to_currency}"))
    return f"{amount:g} {from_currency} = 230 {to_currency}"


def hermes(name: str, **arguments: object) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


FIGURES = EpisodePolicy()  # on by default
RATE_CALL = hermes("calculator", expression="250 * 1.10")  # the real 0.5B's call, with a rate it made up


def run_money(script: list[str], query: str, policy: EpisodePolicy = FIGURES):  # noqa: ANN201
    EXECUTED.clear()
    llm = ScriptedLLM(script)
    agent = Agent(llm, [calculator, convert_currency], tool_format="hermes", policy=policy)
    return llm, agent.run_result(query)


def test_a_call_with_a_made_up_rate_is_asked_again_without_that_tool() -> None:
    llm, result = run_money([RATE_CALL, hermes("convert_currency", amount=250, from_currency="USD", to_currency="EUR"),
                             "250 USD is 230 EUR."], query="Convert 250 US dollars to euros.")
    assert EXECUTED == [("convert_currency", "250 USD EUR")] and result.answer == "250 USD is 230 EUR."
    notice = result.steps[1]
    assert (notice.kind, notice.decision, notice.tool_call.name) == ("notice", "invented_figure", "calculator")
    assert "1.10" in (notice.reason or "")
    first, again, after = (prompt for prompt, *_ in llm.calls)
    assert again[1:] == first[1:]  # the same conversation; only the offer in the system prompt differs
    assert '"name": "calculator"' in first[0].content and "convert_currency" in again[0].content
    assert '"name": "calculator"' not in again[0].content + after[0].content  # withheld for the rest of the episode


def test_figures_from_the_question_pass_and_the_check_can_be_turned_off() -> None:
    _, result = run_money([hermes("calculator", expression="17 * 23"), "391"], query="What is 17 * 23?")
    assert EXECUTED == [("calculator", "17 * 23")] and "invented_figure" not in [s.decision for s in result.steps]
    _, result = run_money([RATE_CALL, "275 EUR"], query="Convert 250 US dollars to euros.",
                          policy=EpisodePolicy(check_call_figures=False))
    assert EXECUTED == [("calculator", "250 * 1.10")]


def test_a_model_that_keeps_to_the_withheld_tool_gets_the_answer_turn() -> None:
    _, result = run_money([RATE_CALL, RATE_CALL, "I cannot convert currencies."], query="Convert 250 US dollars to euros.")
    assert EXECUTED == [] and result.end == "answer_turn" and result.answer == "I cannot convert currencies."


def test_in_react_too_a_made_up_rate_is_asked_again_without_that_tool() -> None:
    _, result = run_money_react([
        'Thought: multiply by the rate\nAction: calculator\nAction Input: {"expression": "250 * 1.10"}\n',
        'Thought: convert it\nAction: convert_currency\nAction Input: {"amount": 250, "from_currency": "USD", '
        '"to_currency": "EUR"}\n',
        "Thought: I know the answer.\nFinal Answer: 250 USD is 230 EUR."])
    assert EXECUTED == [("convert_currency", "250 USD EUR")] and result.answer == "250 USD is 230 EUR."
    assert "invented_figure" in [s.decision for s in result.steps]


def run_money_react(script: list[str]):  # noqa: ANN201
    EXECUTED.clear()
    agent = Agent(ScriptedLLM(script), [calculator, convert_currency], tool_format="react")
    return None, agent.run_result("Convert 250 US dollars to euros.")


def test_a_rate_too_large_for_a_float_is_made_up_too() -> None:
    # the real 0.5B's call for "How many US dollars do I get for 46 euros?": 46 times a 1 with hundreds of zeros
    huge = hermes("calculator", expression="46 * 1" + "0" * 400)
    _, result = run_money([huge, hermes("convert_currency", amount=46, from_currency="EUR", to_currency="USD"),
                           "46 EUR is 230 USD."], query="How many US dollars do I get for 46 euros?")
    assert EXECUTED == [("convert_currency", "46 EUR USD")] and "invented_figure" in [s.decision for s in result.steps]


def test_an_answer_turn_that_writes_the_question_back_is_no_answer() -> None:
    # the real 0.5B, in the answer turn after convert_currency returned "... = 230 EUR"
    rate = hermes("convert_currency", amount=250, from_currency="USD", to_currency="EUR")
    _, result = run_money([rate, rate, "Convert 250 US dollars to euros."], query="Convert 250 US dollars to euros.")
    assert not result.finished and result.end == "max_steps" and result.answer == "250 USD = 230 EUR"
    assert result.steps[-1].kind == "stopped"


@pytest.mark.parametrize(("arguments", "question", "made_up"), [
    ({"expression": "250 * 1.10"}, "Convert 250 US dollars to euros.", ["1.10"]),  # the 0.5B's rate
    ({"expression": "1000000 * 0.01715"}, "Convert 1,000,000 JPY to USD.", ["0.01715"]),
    ({"expression": "0.15 * 80"}, "What is 15 percent of 80?", []),  # 15 in another power of ten
    ({"expression": "15 * 80 * 0.01"}, "What is 15 percent of 80?", []),
    ({"minutes": 30}, "Set a timer for half an hour.", []),  # whole numbers derived from words pass
    ({"amount": 99.5, "from_currency": "GBP"}, "How many yen is 99.5 pounds?", []),
    ({"date": "2024-05-03"}, "Flights to Rome tomorrow?", []),  # a date is not arithmetic
    ({"code": "print(2 ** 100 * 1.5)"}, "Use Python.", []),  # nor is code
])
def test_invented_figures(arguments: dict, question: str, made_up: list[str]) -> None:
    from qwen_agent.grounding import invented_figures
    call = ToolCall(name="tool", arguments=json.dumps(arguments))
    assert invented_figures(call, [Message.user(question)]) == made_up
