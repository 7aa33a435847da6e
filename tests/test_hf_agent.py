"""HfAgent: prompts, stop words, parsing of run/chat answers, evaluation with inputs and carried state."""

from __future__ import annotations

import pytest

from qwen_agent import ScriptedLLM, tool
from qwen_agent.hf_agent import HfAgent, parse_chat, parse_run
from qwen_agent.prompts.chatml import render_chatml
from qwen_agent.prompts.hf_agent import RUN_CUE, render_hf


@tool
def translator(text: str, src_lang: str, tgt_lang: str) -> str:
    """Translate a text between two languages.

    Args:
        text: what to translate
        src_lang: the language of the text
        tgt_lang: the language wanted
    """
    return f"<{text}|{src_lang}->{tgt_lang}>"


@tool
def summarizer(text: str) -> str:
    """Summarize an English text."""
    if not text:
        raise ValueError("nothing to summarize")
    return f"summary({text})"


RUN_REPLY = (
    " tools: `translator` to translate the text, then `summarizer`.\n\nAnswer:\n```py\n"
    "english = translator(text, src_lang='French', tgt_lang='English')\nsummarizer(english)\n```\n\n"
    "Task: a task the model went on to invent"
)


def test_run_sends_the_run_prompt_with_the_task_stop_and_evaluates_with_inputs() -> None:
    llm = ScriptedLLM([RUN_REPLY])
    result = HfAgent(llm, [translator, summarizer]).run("Summarize the French `text`.", text="bonjour")
    prompt, stop = llm.calls[0]
    assert stop == ["Task:"]
    assert isinstance(prompt, str) and prompt.endswith('Task: "Summarize the French `text`."\n\nI will use the following')
    assert "- translator: Translate a text between two languages. Arguments: `text`, `src_lang`, `tgt_lang`." in prompt
    assert "- summarizer: Summarize an English text. Arguments: `text`." in prompt
    assert result.explanation == "I will use the following  tools: `translator` to translate the text, then `summarizer`."
    assert result.code == "english = translator(text, src_lang='French', tgt_lang='English')\nsummarizer(english)"
    assert result.value == "summary(<bonjour|French->English>)"
    assert result.evaluation.state["english"] == "<bonjour|French->English>"


def test_run_with_chat_prompt_style_continues_an_assistant_message() -> None:
    llm = ScriptedLLM([RUN_REPLY])
    HfAgent(llm, [translator, summarizer], prompt_style="chat").run("Summarize `text`.", text="x")
    messages = llm.calls[0][0]
    assert [m.role for m in messages] == ["user", "assistant"]
    assert messages[1].content == RUN_CUE
    assert messages[0].content.endswith('Task: "Summarize `text`."')
    assert render_chatml(messages).endswith("<|im_start|>assistant\nI will use the following")


def test_chat_carries_transcript_and_variables_between_turns() -> None:
    llm = ScriptedLLM([
        "I will use `translator`.\n\n```py\nenglish = translator(text, src_lang='French', tgt_lang='English')\n```\n"
        "\nHuman: an invented next turn",
        "I will use `summarizer` on the translation.\n```py\nsummarizer(english)\n```",
    ])
    agent = HfAgent(llm, [translator, summarizer])
    first = agent.chat("Translate `text` into English.", text="bonjour")
    second = agent.chat("Now summarize it.")
    assert [stop for _, stop in llm.calls] == [["Human:", "====="], ["Human:", "====="]]
    assert first.value == "<bonjour|French->English>"
    assert second.value == "summary(<bonjour|French->English>)"
    second_prompt = llm.calls[1][0]
    assert "\nHuman: Translate `text` into English.\n\nAssistant: I will use `translator`." in second_prompt
    assert "invented next turn" not in second_prompt  # trimmed at the stop word
    assert second_prompt.endswith("\nHuman: Now summarize it.\n\nAssistant: ")
    agent.reset_chat()
    assert agent.chat_state == {} and "Now summarize it" not in agent.chat_history


def test_chat_with_chat_prompt_style_sends_the_transcript_as_a_user_message() -> None:
    llm = ScriptedLLM(["Use `summarizer`.\n```py\nsummarizer(text)\n```"])
    result = HfAgent(llm, [summarizer], prompt_style="chat").chat("Summarize `text`.", text="abc")
    messages = llm.calls[0][0]
    assert [m.role for m in messages] == ["user"]
    assert messages[0].content.endswith("\nHuman: Summarize `text`.\n\nAssistant: ")
    assert result.value == "summary(abc)"


def test_tool_list_marks_optional_arguments() -> None:
    @tool
    def video(prompt: str, seconds: int = 2) -> str:
        """Make a video."""
        return prompt

    assert HfAgent(ScriptedLLM([]), [video]).tools_description == (
        "- video: Make a video. Arguments: `prompt`, `seconds` (optional).")


def test_code_errors_come_back_as_messages() -> None:
    llm = ScriptedLLM([" `summarizer`.\nAnswer:\nsummarizer('')", " `summarizer`.\nAnswer:\nsummarizer(text=1, x=2)"])
    agent = HfAgent(llm, [summarizer])
    failed = agent.run("Summarize nothing.")
    assert failed.evaluation.error_kind == "runtime"
    assert "the tool `summarizer` raised ValueError: nothing to summarize" in failed.value
    invalid = agent.run("Bad arguments.")
    assert invalid.evaluation.error_kind == "runtime" and "ToolArgumentError" in invalid.value


@pytest.mark.parametrize(
    ("completion", "explanation", "code"),
    [
        (" tools: `a`.\nAnswer:\n```py\nx = 1\n```", "I will use the following  tools: `a`.", "x = 1"),
        (" tools: `a`.\nAnswer:\n```python\nx = 1\ny = 2", "I will use the following  tools: `a`.", "x = 1\ny = 2"),
        (" tools: `a`.\nAnswer: x = 1", "I will use the following  tools: `a`.", "x = 1"),
        (" tool `a` but no code", "I will use the following  tool `a` but no code", ""),
        (" a\nAnswer:\nx = 1\nAnswer:\ny", "I will use the following  a", "x = 1\nAnswer:\ny"),
    ],
)
def test_parse_run(completion: str, explanation: str, code: str) -> None:
    assert parse_run(completion) == (explanation, code)


@pytest.mark.parametrize(
    ("completion", "explanation", "code"),
    [
        ("Use `a`.\n```py\nx = 1\n```\ntrailing", "Use `a`.", "x = 1"),
        ("Use `a`.\n  ```\nx = 1\ny = 2", "Use `a`.", "x = 1\ny = 2"),
        ("No code at all, `a`.", "No code at all, `a`.", ""),
    ],
)
def test_parse_chat(completion: str, explanation: str, code: str) -> None:
    assert parse_chat(completion) == (explanation, code)


def test_templates_fail_loudly_and_do_not_rescan_values() -> None:
    with pytest.raises(KeyError, match="needs \\['prompt'\\]"):
        render_hf("<<all_tools>> <<prompt>>", all_tools="x")
    with pytest.raises(KeyError, match="has no field"):
        render_hf("<<a>>", a="1", b="2")
    assert render_hf("<<a>>|<<b>>", a="<<b>>", b="2") == "<<b>>|2"
    with pytest.raises(ValueError, match="must end with"):
        HfAgent(ScriptedLLM([]), [summarizer], run_template="Task: <<prompt>> <<all_tools>>")
    with pytest.raises(ValueError, match="prompt_style"):
        HfAgent(ScriptedLLM([]), [summarizer], prompt_style="json")  # type: ignore[arg-type]


def test_positional_arguments_follow_the_schema_order() -> None:
    agent = HfAgent(ScriptedLLM([]), [translator])
    assert agent.evaluate("translator('a', 'b', 'c')", {}).value == "<a|b->c>"
    too_many = agent.evaluate("translator('a', 'b', 'c', 'd')", {})
    assert too_many.error_kind == "runtime" and "takes 3 arguments" in too_many.error
