"""The smolagents adapter with the real smolagents package: CodeAgent and ToolCallingAgent end to end."""

from __future__ import annotations

import importlib
import sys

import pytest

smolagents = pytest.importorskip("smolagents")

from qwen_agent import Message, ScriptedLLM, tool  # noqa: E402
from qwen_agent.errors import MissingDependencyError  # noqa: E402
from qwen_agent.hf_agent import HfAgent  # noqa: E402
from qwen_agent.integrations.smolagents import (  # noqa: E402
    QwenModel,
    from_smolagents_tool,
    to_qwen_messages,
    to_smolagents_tool,
)

CALLS: list[tuple[str, str, str]] = []


@tool
def translator(text: str, src_lang: str, tgt_lang: str = "English") -> str:
    """Translate a text between two languages.

    Args:
        text: what to translate
        src_lang: the language of the text
        tgt_lang: the language wanted
    """
    CALLS.append((text, src_lang, tgt_lang))
    return f"<{text}|{src_lang}->{tgt_lang}>"


@pytest.fixture(autouse=True)
def _clear_calls() -> None:
    CALLS.clear()


def test_code_agent_runs_a_task_end_to_end_with_a_bridged_tool() -> None:
    llm = ScriptedLLM([
        "Thought: I translate the word, then answer.\n<code>\n"
        "result = translator('hola', src_lang='Spanish')\nfinal_answer(result)\n</code>\n"
        "Observation: text the model should never have written",
    ])
    agent = smolagents.CodeAgent(tools=[to_smolagents_tool(translator)], model=QwenModel(llm), max_steps=2,
                                 verbosity_level=0)
    answer = agent.run("Translate 'hola' into English.")
    assert answer == "<hola|Spanish->English>"
    assert CALLS == [("hola", "Spanish", "English")]  # the real tool ran, with its default filled in
    messages, stop = llm.calls[0]
    assert "Observation:" in stop and "</code>" in stop
    assert messages[0].role == "system" and "translator" in messages[0].content
    assert messages[-1].role == "user" and "Translate 'hola' into English." in messages[-1].content


def test_tool_calling_agent_runs_through_the_json_action_text() -> None:
    llm = ScriptedLLM([
        'Action:\n{"name": "translator", "arguments": {"text": "hola", "src_lang": "Spanish", '
        '"tgt_lang": "French"}}\nObservation: invented',
        'Action:\n{"name": "final_answer", "arguments": {"answer": "done: bonjour"}}',
    ])
    agent = smolagents.ToolCallingAgent(tools=[to_smolagents_tool(translator)], model=QwenModel(llm),
                                        max_steps=3, verbosity_level=0)
    assert agent.run("Translate 'hola' into French.") == "done: bonjour"
    assert CALLS == [("hola", "Spanish", "French")]
    second_prompt = llm.calls[1][0]
    assert "<hola|Spanish->French>" in second_prompt[-1].content  # the observation came back to the model


def test_tool_calling_agent_in_the_models_own_format() -> None:
    llm = ScriptedLLM([
        '{"name": "translator", "arguments": {"text": "hola", "src_lang": "Spanish", "tgt_lang": "French"}}\n'
        "</tool_call>",
        '{"name": "final_answer", "arguments": {"answer": "done: bonjour"}}\n</tool_call>',
    ])
    agent = smolagents.ToolCallingAgent(tools=[to_smolagents_tool(translator)],
                                        model=QwenModel(llm, tool_format="hermes"), max_steps=3, verbosity_level=0)
    assert agent.run("Translate 'hola' into French.") == "done: bonjour"
    assert CALLS == [("hola", "Spanish", "French")]
    first_prompt = llm.calls[0][0]
    assert "<tools>" in first_prompt[0].content and '"name": "translator"' in first_prompt[0].content
    assert first_prompt[-1] == Message.assistant("<tool_call>\n")  # a step must call a tool
    assert "<hola|Spanish->French>" in "\n".join(m.content or "" for m in llm.calls[1][0])


def test_generate_and_stream_agree_and_honour_stop_sequences() -> None:
    reply = "first part STOP second part"
    model = QwenModel(ScriptedLLM([reply, reply], chunk_size=4))
    messages = [{"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "there"}]}]
    message = model.generate(messages, stop_sequences=["STOP"])
    streamed = "".join(d.content or "" for d in model.generate_stream(messages, stop_sequences=["STOP"]))
    assert message.content == streamed == "first part "
    assert message.role == "assistant"
    assert message.token_usage is not None and message.token_usage.output_tokens == len(reply)
    prompt = model.llm.calls[0][0]
    assert [(m.role, m.content) for m in prompt] == [("user", "hi\nthere")]


def test_message_conversion_maps_tool_roles_and_rejects_images() -> None:
    converted = to_qwen_messages([
        smolagents.ChatMessage(role=smolagents.MessageRole.SYSTEM, content="sys"),
        {"role": "tool-call", "content": "called"},
        {"role": "tool-response", "content": [{"type": "text", "text": "result"}]},
    ])
    assert [(m.role, m.content) for m in converted] == [("system", "sys"), ("assistant", "called"), ("user", "result")]
    with pytest.raises(ValueError, match="'image' is not supported; only text is"):
        to_qwen_messages([{"role": "user", "content": [{"type": "image", "image": b""}]}])
    with pytest.raises(ValueError, match="unknown smolagents message role"):
        to_qwen_messages([{"role": "wizard", "content": "x"}])
    with pytest.raises(ValueError, match="response_format"):
        QwenModel(ScriptedLLM(["x"])).generate([{"role": "user", "content": "x"}], response_format={"type": "json"})


def test_smolagents_tools_work_as_ours() -> None:
    def shout(text: str, times: int | None = None) -> str:
        """Repeat a text in capitals.

        Args:
            text: the text
            times: how many times (default once)
        """
        return text.upper() * (times or 1)

    ours = from_smolagents_tool(smolagents.tool(shout))
    assert ours.name == "shout"
    assert ours.parameters["required"] == ["text"]
    assert ours.call('{"text": "hey", "times": 2}') == "HEYHEY"
    agent = HfAgent(ScriptedLLM([" `shout`.\nAnswer:\nshout('a', 3)"]), [ours])
    assert agent.run("Shout.").value == "AAA"
    with pytest.raises(TypeError, match="smolagents.Tool"):
        from_smolagents_tool(translator)  # type: ignore[arg-type]


def test_bridged_tool_validates_arguments() -> None:
    bridged = to_smolagents_tool(translator)
    assert bridged.inputs["tgt_lang"]["nullable"] is True
    assert bridged("a", "b") == "<a|b->English>"
    with pytest.raises(Exception, match="src_lang"):
        bridged(text="a")


def test_missing_smolagents_gives_an_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "smolagents", None)
    monkeypatch.delitem(sys.modules, "qwen_agent.integrations.smolagents")
    with pytest.raises(MissingDependencyError, match=r"pip install 'qwen_agent\[smolagents\]'"):
        importlib.import_module("qwen_agent.integrations.smolagents")


def test_a_streaming_tool_calling_agent_reads_calls_in_the_models_own_format() -> None:
    """smolagents streams when `stream_outputs=True`: the deltas carry the calls read in the model's format."""
    llm = ScriptedLLM([
        '{"name": "translator", "arguments": {"text": "hola", "src_lang": "Spanish", "tgt_lang": "French"}}\n'
        "</tool_call>",
        '{"name": "final_answer", "arguments": {"answer": "done: bonjour"}}\n</tool_call>',
    ])
    agent = smolagents.ToolCallingAgent(tools=[to_smolagents_tool(translator)], stream_outputs=True,
                                        model=QwenModel(llm, tool_format="hermes"), max_steps=3, verbosity_level=0)
    assert agent.run("Translate 'hola' into French.") == "done: bonjour"
    assert CALLS == [("hola", "Spanish", "French")]
    assert llm.calls[0][0][-1] == Message.assistant("<tool_call>\n")  # read as Hermes, the call forced


def test_a_bridged_tool_refuses_an_argument_given_twice_as_the_hf_agent_does() -> None:
    bridged = to_smolagents_tool(translator)
    with pytest.raises(TypeError, match="two values for argument 'text'"):
        bridged.forward("hola", text="adios", src_lang="Spanish", tgt_lang="French")
    with pytest.raises(TypeError, match="takes 3 arguments"):
        bridged.forward("hola", "Spanish", "French", "extra")
