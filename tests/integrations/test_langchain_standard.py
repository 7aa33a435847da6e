"""langchain-tests' standard unit tests for the chat model (langchain-tests ships none for text LLMs; see
test_langchain.py for the equivalent checks of QwenAgentLLM)."""

from __future__ import annotations

from langchain_tests.unit_tests import ChatModelUnitTests

from qwen_agent.integrations.langchain import ChatQwenAgent
from qwen_agent.llm.scripted import ScriptedLLM


class TestChatQwenAgentStandard(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatQwenAgent]:
        return ChatQwenAgent

    @property
    def chat_model_params(self) -> dict:
        return {"llm": ScriptedLLM(["Hello."], cycle=True), "model": "qwen-scripted"}
