"""Whether a call's arguments come from the conversation: a small model's calls on questions that need no tool
(the weather of a city nobody named, in answer to "Hi!") have arguments found nowhere in it.

A value is grounded when the conversation holds it: the whole value (case and spaces aside, digit-group commas
dropped), or every word and number in it. A call is ungrounded only when it has values and none of them is
grounded, so a call that derives some arguments (an airport code, a date) from others the user wrote passes.

Answers are checked by their numbers and by what they speak of: after one call for a two-part question ("the
weather in Paris and in Tokyo"), small Qwens answer both parts, the second with a figure no tool gave ("Tokyo:
15°C"), or about a name of the question no call was made for ("Tokyo is also 14°C").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Any

from qwen_agent.schema import Message, ToolCall

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
_DIGIT_GROUPS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_CJK = re.compile(r"[\u3400-\u9fff]")
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?(?![A-Za-z0-9_.]*\d)")  # not inside a word or a version
# a figure may be restated in another unit, a power of ten (123.3 million = 123,300,000; 1410 million = 14.1亿)
_SCALES = tuple(10.0**k for k in range(10))
_TERM = re.compile(r"(?<![\w.])(?:[A-Z][A-Za-z]*|\d+(?:\.\d+)?)(?![\w])")  # a word's first capital, a figure
_SMALL = 10  # counts and list markers ("2 cities", "1.") are not checked
_CONSTANTS = frozenset(10.0**k for k in range(-6, 7))
_HUGE = 1e15  # an integer argument beyond any count or amount a question holds
_ARITHMETIC = re.compile(r"[\d\s.+\-*/%()^e]+")  # a number, or arithmetic on numbers (normalised: lower case)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")


def conversation_text(messages: Iterable[Message]) -> str:
    """What the user, the system and the tools said, normalised for `is_grounded`."""
    return _normal(" \n ".join(m.content or "" for m in messages if m.role in ("system", "user", "tool")))


def is_ungrounded(call: ToolCall, text: str) -> bool:
    """True when `call` has argument values and none of them appears in `text` (a `conversation_text`)."""
    values = argument_values(call)
    return bool(values) and not any(_grounded(v, text) for v in values)


def is_partly_ungrounded(call: ToolCall, text: str) -> bool:
    """True when some argument value of `call` appears nowhere in `text` (stricter than `is_ungrounded`)."""
    return not all(_grounded(v, text) for v in argument_values(call))


def argument_values(call: ToolCall) -> list[str]:
    """The call's argument values (nested ones too), each normalised as `conversation_text` is; empty ones and
    booleans left out."""
    args = call.parsed_arguments()
    return [v for v in _leaves(args) if v] if args else []


def is_echo(call: ToolCall, earlier_result: str) -> bool:
    """The call's one argument value is an earlier result itself (a small model running its answer back through
    the tool that gave it: `2**100` -> `1267650600228229401496703205376` -> code `1267650600228229401496703205376`)."""
    values = argument_values(call)
    return len(values) == 1 and values[0] == _normal(earlier_result)


def _leaves(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list | tuple):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return [_normal(str(value))]


def _grounded(value: str, text: str) -> bool:
    if value in text:
        return True
    if _CJK.search(value):  # Chinese is not split into words by spaces: the whole value must be there
        return False
    tokens = _TOKEN.findall(value)
    return bool(tokens) and all(t in text for t in tokens)


def same_text(a: str, b: str) -> bool:
    """`a` and `b` say the same, case and spaces aside (an answer that only writes the question back)."""
    return _normal(a) == _normal(b)


def _normal(text: str) -> str:
    return " ".join(_DIGIT_GROUPS.sub("", text).casefold().split())


def ungrounded_numbers(answer: str, messages: Iterable[Message]) -> list[str]:
    """The numbers of `answer` that `messages` neither state nor give by one step of arithmetic (a sum,
    difference, product or ratio of two of their numbers, or a number restated in another unit of ten), as
    written in `answer`, in order. Integers up to 10 are left out (counts, list markers)."""
    known = _numbers(" \n ".join(_said(m) for m in messages))
    found: list[str] = []
    for text in _NUMBER.findall(_DIGIT_GROUPS.sub("", answer)):
        value = float(text)
        if (value <= _SMALL and value.is_integer()) or text in found or _derivable(value, text, known):
            continue
        found.append(text)
    return found


def invented_figures(call: ToolCall, messages: Iterable[Message]) -> list[str]:
    """The figures in `call`'s numeric arguments (numbers, and arithmetic like "250 * 1.10") that `messages` do
    not state, neither as such nor in another power of ten (15 percent: 0.15), as written: an exchange rate or a
    constant the model made up for a calculator. Only fractions and integers beyond any count are suspect: whole
    numbers a model rightly derives from words ("half an hour": 30, "a dozen": 12) pass, as do powers of ten (the
    0.01 of a percentage); dates are not arithmetic."""
    known = _numbers(" \n ".join(_said(m) for m in messages))
    found: list[str] = []
    for value in _leaves(call.parsed_arguments() or {}):
        if not _ARITHMETIC.fullmatch(value) or _DATE.search(value):
            continue
        for text in _NUMBER.findall(value):
            number = float(text)
            if text in found or not ("." in text or not math.isfinite(number) or number > _HUGE):
                continue
            if not math.isfinite(number) or not (number in _CONSTANTS or any(
                    _close(number, k * s) or _close(number, k / s) for k in known for s in _SCALES)):
                found.append(text)
    return found


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a))


def uncovered_terms(answer: str, question: str, calls: Iterable[ToolCall], results: Iterable[Message]) -> list[str]:
    """The names and numbers of `question` that `answer` speaks of, but that no call's arguments and no result
    hold, in the question's order: the part of a two-part question the model answered without a tool.

    A name is a capitalised word or a code (Tokyo, GBP) that does not open a sentence; a number is any figure
    (17, 1,000,000). A term that begins a word of the calls or results is covered (US: USD)."""
    covered = set(_TOKEN.findall(_normal(" ".join([*(c.arguments for c in calls), *(r.content or "" for r in results)]))))
    spoken = set(_TOKEN.findall(_normal(answer)))
    found: list[str] = []
    for term in _question_terms(question):
        key = _normal(term)
        if key in spoken and not any(c.startswith(key) for c in covered) and term not in found:
            found.append(term)
    return found


def _question_terms(question: str) -> list[str]:
    """Figures, and capitalised words that do not open a sentence (those are capitalised anyway)."""
    terms = []
    text = _DIGIT_GROUPS.sub("", question)
    for match in _TERM.finditer(text):
        word, before = match.group(), text[:match.start()].rstrip()
        opens = not before or before[-1] in ".?!。？！"
        if word[0].isdigit() or (len(word) > 1 and not opens):
            terms.append(word)
    return terms


def _said(message: Message) -> str:
    """A message's text and its calls' arguments (a calculator's expression holds numbers too)."""
    calls = " ".join(c.arguments for c in message.tool_calls or [])
    return f"{message.content or ''} {calls}"


def _numbers(text: str) -> list[float]:
    return sorted({float(n) for n in _NUMBER.findall(_DIGIT_GROUPS.sub("", text))})


def _derivable(value: float, written: str, known: Sequence[float]) -> bool:
    """`value` (shown with `written`'s decimals) is a known number, in some unit of ten, or one operation on two."""
    decimals = len(written.partition(".")[2])
    tolerance = 0.5 * 10 ** -decimals + 1e-9

    def near(x: float) -> bool:
        return abs(x - value) <= tolerance * max(1.0, abs(value) * 1e-6)

    if any(near(k * s) or near(k / s) for k in known for s in _SCALES):
        return True
    for i, a in enumerate(known):
        for b in known[i:]:
            if near(a + b) or near(abs(a - b)) or near(a * b) or (b and near(a / b)) or (a and near(b / a)):
                return True
            if near(a * b / 100) or (b and near(100 * a / b)) or (a and near(100 * b / a)):  # percentages
                return True
    return False


def uses_results(answer: str, messages: Iterable[Message]) -> bool:
    """Whether `answer` holds a word or number that the tool results of `messages` hold and its user messages do
    not (a word of one letter aside): an answer written from the results, not from the question alone."""
    question = {t for m in messages if m.role == "user" for t in _TOKEN.findall(_normal(m.content or ""))}
    given = {t for m in messages if m.role == "tool" for t in _TOKEN.findall(_normal(m.content or ""))}
    text = _normal(answer)
    return any(t in text for t in given - question if len(t) > 1 or t.isdigit())
