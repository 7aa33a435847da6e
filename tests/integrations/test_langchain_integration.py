"""langchain-tests' standard integration suite for `ChatQwenAgent`, against a real OpenAI-compatible server
(`qwen_agent.server`, the app `qwen-agent serve` runs, with uvicorn on 127.0.0.1) in the Hermes format.

The server's model is `ScriptedPolicyLLM`, a scripted test double that answers by fixed rules (see
scripted_policy.py): the server renders the tools and the forced `tool_choice` in Hermes, the double writes
`<tool_call>` markup, the server reads it back into OpenAI `tool_calls`, and `ChatQwenAgent` (tool_format
"server", over `OpenAICompatLLM`) turns them into LangChain messages. The suite runs twice: structured output
by a forced tool call (its default) and by `method="json_schema"`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from qwen_agent.integrations.langchain import ChatQwenAgent
from qwen_agent.llm.openai_compat import OpenAICompatLLM
from tests.integrations.conftest import POLICY_MODEL, PolicyServer

_server: dict[str, PolicyServer] = {}


@pytest.fixture(scope="module", autouse=True)
def _share_server(policy_server: PolicyServer) -> Iterator[None]:
    """The suite builds models from a property, which cannot take fixtures: hand it the server here."""
    _server["it"] = policy_server
    yield
    _server.clear()


def chat_params() -> dict:
    llm = OpenAICompatLLM(POLICY_MODEL, base_url=_server["it"].base_url, max_retries=0, timeout=30)
    return {"llm": llm, "model": POLICY_MODEL, "tool_format": "server"}


class TestChatQwenAgentIntegration(ChatModelIntegrationTests):
    @property
    def chat_model_class(self) -> type[ChatQwenAgent]:
        return ChatQwenAgent

    @property
    def chat_model_params(self) -> dict:
        return chat_params()

    @property
    def supports_json_mode(self) -> bool:
        return True  # with_structured_output(method="json_mode"): the model is asked for one JSON object

    @property
    def supports_model_override(self) -> bool:
        # The wrapped backend object is bound to one model (and `qwen-agent serve` serves one); another model
        # is another backend, so invoke(model=...) cannot switch it.
        return False

    # Left at the suite's defaults, each with its reason:
    # - supports_image_inputs / image_urls / pdf / audio / video / anthropic_inputs / image & pdf tool
    #   messages: False. qwen_agent's message contract carries text only (a non-text block is a ValueError).
    # - enable_vcr_tests: False. Nothing here is recorded: every test talks to the live local server.
    # - supported_usage_metadata_details: none. The server reports prompt and completion token counts only.


class TestChatQwenAgentJsonSchema(TestChatQwenAgentIntegration):
    """The same suite with structured output by `method="json_schema"` (what create_agent's provider
    strategy binds)."""

    @property
    def structured_output_kwargs(self) -> dict:
        return {"method": "json_schema"}
