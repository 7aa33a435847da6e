"""Tools: @tool schemas from type hints, validation messages, conversions, the registry."""

from __future__ import annotations

from typing import Literal

import pytest

from qwen_agent.errors import DuplicateToolError, ToolArgumentError, ToolDefinitionError, ToolNotFoundError
from qwen_agent.schema import ToolSpec
from qwen_agent.tools import Tool, ToolRegistry, tool


@tool
def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius", days: int = 1) -> str:
    """Current weather of a city.

    Longer explanation that is not part of the summary.

    Args:
        city: name of the city, e.g. Hangzhou
        unit: temperature unit
        days: how many days
            to forecast
    """
    return f"{city}|{unit}|{days}"


class Translate(Tool):
    name = "translate"
    description = "Translate text."
    name_for_human = "Translator"
    parameters = {
        "type": "object",
        "properties": {"text": {"type": "string", "description": "what to translate"},
                       "to": {"type": "string", "enum": ["en", "zh"]}},
        "required": ["text", "to"],
    }

    def run(self, text: str, to: str) -> dict:
        return {"text": text, "to": to, "译": "好"}


def test_schema_from_type_hints_and_docstring() -> None:
    spec = get_weather.spec
    assert spec.name == "get_weather"
    assert spec.description == "Current weather of a city."
    props = spec.parameters["properties"]
    assert props["city"] == {"type": "string", "description": "name of the city, e.g. Hangzhou"}
    assert props["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert props["days"]["description"] == "how many days to forecast"
    assert spec.parameters["required"] == ["city"]


def test_schema_keywords_in_the_usual_order_parameter_names_in_signature_order() -> None:
    @tool
    def find(type: str, description: str = "", *, properties: list[int] | None = None) -> str:
        """Find things.

        Args:
            type: kind of thing
        """
        return type

    schema = find.spec.parameters
    # type first, as OpenAI's examples and transformers' get_json_schema write it (pydantic sorts it last)
    assert list(schema)[:3] == ["type", "properties", "required"]
    assert list(schema["properties"]) == ["type", "description", "properties"]  # names are not keywords
    assert list(schema["properties"]["type"]) == ["type", "description"]
    assert list(schema["properties"]["properties"]["anyOf"][0]) == ["type", "items"]
    assert "title" not in schema["properties"]["type"]


def test_call_accepts_json_json5_and_coerces() -> None:
    assert get_weather.call('{"city": "Hangzhou"}') == "Hangzhou|celsius|1"
    assert get_weather.call("{city: 'Paris', days: '3'}") == "Paris|celsius|3"
    assert get_weather.call({"city": "Oslo", "unit": "fahrenheit"}) == "Oslo|fahrenheit|1"


def test_single_required_string_parameter_takes_raw_text() -> None:
    assert get_weather.call("Hangzhou") == "Hangzhou|celsius|1"


def test_validation_error_is_written_for_the_model() -> None:
    with pytest.raises(ToolArgumentError) as e:
        get_weather.call('{"city": "X", "unit": "kelvin", "extra": 1}')
    msg = str(e.value)
    assert "get_weather" in msg and "unit" in msg and "extra" in msg and "Expected a JSON object" in msg


def test_class_tool_validates_with_json_schema() -> None:
    t = Translate()
    assert t.call('{"text": "hi", "to": "zh"}') == '{"text": "hi", "to": "zh", "译": "好"}'
    with pytest.raises(ToolArgumentError, match="to"):
        t.call('{"text": "hi", "to": "fr"}')
    with pytest.raises(ToolArgumentError, match="must be a JSON object"):
        t.call("just words")


def test_decorated_function_stays_callable() -> None:
    assert get_weather("Rome", days=2) == "Rome|celsius|2"


def test_tool_with_options_and_bad_definitions() -> None:
    @tool(name="weather-v2", description="Override.")
    def w(city: str) -> str:
        return city

    assert (w.name, w.description) == ("weather-v2", "Override.")
    with pytest.raises(ToolDefinitionError):
        tool(lambda *args: None)
    with pytest.raises(ToolDefinitionError):
        tool(name="has space")(lambda x: x)


def test_openai_conversion_round_trip() -> None:
    data = get_weather.spec.to_openai()
    assert data["type"] == "function" and data["function"]["name"] == "get_weather"
    assert ToolSpec.from_openai(data) == get_weather.spec
    assert ToolSpec.from_openai(data["function"]) == get_weather.spec  # legacy `functions` entry
    with pytest.raises(ValueError):
        ToolSpec.from_openai({"type": "function", "function": {}})


def test_qwen_plugin_conversion_round_trip() -> None:
    plugin = Translate().spec.to_qwen_plugin()
    assert plugin["name_for_human"] == "Translator" and plugin["name_for_model"] == "translate"
    assert plugin["parameters"][0] == {"name": "text", "description": "what to translate", "required": True,
                                       "schema": {"type": "string"}}
    back = ToolSpec.from_qwen_plugin(plugin)
    assert back.parameters["required"] == ["text", "to"]
    assert back.parameters["properties"]["to"] == {"type": "string", "enum": ["en", "zh"]}
    assert back.name_for_human == "Translator"


def test_qwen_plugin_from_published_style_entry() -> None:
    entry = {"name_for_human": "谷歌搜索", "name_for_model": "google_search",
             "description_for_model": "谷歌搜索是一个通用搜索引擎。",
             "parameters": [{"name": "search_query", "description": "搜索关键词", "required": True,
                             "schema": {"type": "string"}}]}
    spec = ToolSpec.from_qwen_plugin(entry)
    assert spec.parameters == {"type": "object", "properties": {"search_query": {"type": "string",
                               "description": "搜索关键词"}}, "required": ["search_query"]}
    assert spec.to_qwen_plugin() == entry


def test_registry_refuses_duplicates_and_resolves_loosely() -> None:
    reg = ToolRegistry([get_weather, Translate()])
    with pytest.raises(DuplicateToolError):
        reg.register(get_weather)
    assert reg.resolve("`Get Weather`") is get_weather
    assert reg.resolve("Translator").name == "translate"
    with pytest.raises(ToolNotFoundError, match="Available tools: get_weather, translate"):
        reg.resolve("search")


def test_registry_wraps_plain_functions() -> None:
    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    reg = ToolRegistry([add])
    assert reg.get("add").call('{"a": 2, "b": "3"}') == "5"


def test_unknown_builtin_and_backend_names_are_configuration_errors() -> None:
    from qwen_agent.errors import ConfigurationError
    from qwen_agent.llm import get_llm
    from qwen_agent.tools import load_builtin

    with pytest.raises(ConfigurationError, match="unknown built-in tool 'shell'; choose one of"):
        load_builtin("shell")
    with pytest.raises(ConfigurationError, match="unknown LLM backend 'vllm'; choose one of \\['openai', "):
        get_llm("vllm", model="x")


def test_arguments_of_another_tool_are_named_in_the_error() -> None:
    """The real 0.5B gives the calculator `from_currency`/`to_currency`; the error says whose arguments they are."""
    import asyncio

    from qwen_agent.schema import ToolCall
    from qwen_agent.tools.registry import ToolRegistry
    from qwen_agent.tools.runner import ToolRunner

    @tool
    def calculator(expression: str) -> str:
        """Evaluate an arithmetic expression."""
        return expression

    @tool
    def convert_currency(amount: float, from_currency: str, to_currency: str) -> str:
        """Convert money."""
        return str(amount)

    runner = ToolRunner(ToolRegistry([calculator, convert_currency]))

    def outcome(args: str) -> str:
        result = asyncio.run(runner.run_one(ToolCall(name="calculator", arguments=args)))
        assert result.is_error
        return result.observation

    mixed = outcome('{"expression": "250 * 1.1", "from_currency": "USD", "to_currency": "EUR"}')
    assert mixed.endswith("(from_currency, to_currency are arguments of convert_currency.)")
    assert "Invalid arguments for calculator" in mixed
    assert "arguments of" not in outcome('{"expression": "1", "type": "string"}')  # no tool takes `type`
    assert "arguments of" not in outcome('{"expression": "1", "amount": 2, "kind": "x"}')  # not all of them
