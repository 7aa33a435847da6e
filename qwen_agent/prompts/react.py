"""Qwen's ReAct prompt: the tool description line and the Question/Thought/Action/Observation template.

The English wording is the one Qwen chat models were trained with, so it is kept verbatim; the Chinese one is
its translation as used by Qwen's Chinese tool-use evaluation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from typing import Literal

from qwen_agent.prompts.render import render
from qwen_agent.schema import Message, ToolSpec

Lang = Literal["en", "zh"]

TOOL_DESC = {
    "en": (
        "{name}: Call this tool to interact with the {human_name} API. What is the {human_name} API useful for? "
        "{description} Parameters: {parameters} Format the arguments as a JSON object."
    ),
    "zh": (
        "{name}: 调用此工具与{human_name} API进行交互。{human_name} API有什么用？"
        "{description} 参数：{parameters} 将参数格式化为JSON对象。"
    ),
}

REACT_TEMPLATE = {
    "en": """Answer the following questions as best you can. You have access to the following tools:

{tool_descs}

Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [{tool_names}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can be repeated zero or more times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question

Begin!

Question: {query}""",
    "zh": """尽你所能回答以下问题。你可以使用以下工具：

{tool_descs}

使用以下格式：

Question: 需要回答的问题
Thought: 你应该总是思考下一步做什么
Action: 要采取的行动，必须是 [{tool_names}] 之一
Action Input: 行动的输入
Observation: 行动的结果
...（Thought/Action/Action Input/Observation 可以重复零次或多次）
Thought: 我现在知道最终答案了
Final Answer: 对原始问题的最终回答

开始！

Question: {query}""",
}

# Generation stops here: the framework, not the model, writes the Observation.
STOP_WORDS = ["Observation:", "Observation:\n"]


def tool_description(spec: ToolSpec, lang: Lang = "en") -> str:
    """One tool in Qwen's format; parameters as the Qwen plugin parameter list, JSON without ASCII escaping."""
    plugin = spec.to_qwen_plugin()
    return render(
        TOOL_DESC[lang],
        name=spec.name,
        human_name=spec.human_name,
        description=spec.description,
        parameters=json.dumps(plugin["parameters"], ensure_ascii=False),
    )


def react_prompt(query: str, tools: Sequence[ToolSpec], lang: Lang = "en") -> str:
    """The user turn that opens a ReAct episode: instructions, tool descriptions and the question."""
    descs, names = _tool_block(tools, lang)
    return render(REACT_TEMPLATE[lang], tool_descs=descs, tool_names=names, query=query)


# The agent asks for the same tool list at every step of a run; rendering 50 descriptions each time cost
# ~1 ms a step. Specs are immutable, so a block is reused while the very same spec objects come back.
_BLOCKS: dict[tuple[str, tuple[int, ...]], tuple[tuple[ToolSpec, ...], str, str]] = {}
_BLOCKS_LOCK = threading.Lock()
_BLOCKS_MAX = 64


def _tool_block(tools: Sequence[ToolSpec], lang: Lang) -> tuple[str, str]:
    key = (lang, tuple(id(t) for t in tools))
    with _BLOCKS_LOCK:
        hit = _BLOCKS.get(key)
    if hit is not None and all(a is b for a, b in zip(hit[0], tools, strict=True)):
        return hit[1], hit[2]
    descs = "\n\n".join(tool_description(t, lang) for t in tools)
    names = ",".join(t.name for t in tools)
    with _BLOCKS_LOCK:
        if len(_BLOCKS) >= _BLOCKS_MAX:
            _BLOCKS.pop(next(iter(_BLOCKS)))
        _BLOCKS[key] = (tuple(tools), descs, names)  # holding the specs keeps their ids from being reused
    return descs, names


def render_step(thought: str, action: str, action_input: str, observation: str) -> str:
    """One finished Thought/Action/Observation round, ready to append to the transcript."""
    lead = thought.strip()
    lead = f"Thought: {lead}\n" if lead else ""
    return f"{lead}Action: {action}\nAction Input: {action_input.strip()}\nObservation: {observation}\n"


def build_react_messages(
    messages: Sequence[Message], tools: Sequence[ToolSpec], lang: Lang = "en"
) -> list[Message]:
    """Translate an OpenAI-shaped conversation into the chat a text-only Qwen model reads.

    The last user message becomes the ReAct prompt (instructions, tools, question) followed by the transcript
    of this turn so far: each assistant `tool_calls` message and its `tool` results become Thought / Action /
    Action Input / Observation lines. The model continues from there. Earlier turns stay plain chat turns;
    their tool steps, if any, are kept as a transcript inside the assistant turn. Without tools the messages
    are returned as plain chat.
    """
    msgs = list(messages)
    last_user = max((i for i, m in enumerate(msgs) if m.role == "user"), default=-1)
    if not tools or last_user == -1:
        return _plain_turns(msgs)
    out = _plain_turns(msgs[:last_user])
    content = react_prompt(msgs[last_user].content or "", tools, lang)
    transcript = transcript_of(msgs[last_user + 1 :])
    if transcript:
        content += "\n" + transcript
    out.append(Message.user(content))
    return out


def transcript_of(messages: Sequence[Message]) -> str:
    """The ReAct transcript of assistant tool calls and their results (assistant text without calls ends it)."""
    results = {m.tool_call_id: m.content or "" for m in messages if m.role == "tool" and m.tool_call_id}
    ordered_results = [m.content or "" for m in messages if m.role == "tool"]
    parts: list[str] = []
    n_calls = 0
    for m in messages:
        if m.role != "assistant":
            continue
        if not m.tool_calls:
            if m.content:
                parts.append(f"Thought: I now know the final answer\nFinal Answer: {m.content}\n")
            continue
        for j, call in enumerate(m.tool_calls):
            if call.id in results:
                obs = results[call.id]
            else:  # results without ids are matched by position
                obs = ordered_results[n_calls] if n_calls < len(ordered_results) else ""
            thought = (m.content or m.reasoning_content or "") if j == 0 else ""
            parts.append(render_step(thought, call.name, call.arguments, obs))
            n_calls += 1
    return "".join(parts)


def _plain_turns(messages: Sequence[Message]) -> list[Message]:
    """Chat turns for a model without a tool role: a past round's tool steps fold into its assistant turn."""
    out: list[Message] = []
    pending: list[Message] = []
    for m in messages:
        if m.role in ("system", "user"):
            if pending:
                out.append(Message.assistant(transcript_of(pending).rstrip("\n")))
                pending = []
            out.append(Message(role=m.role, content=m.content or ""))
        elif m.role == "tool" or m.tool_calls:
            pending.append(m)
        elif pending:
            pending.append(m)
            out.append(Message.assistant(transcript_of(pending).rstrip("\n")))
            pending = []
        else:
            out.append(Message.assistant(m.content or ""))
    if pending:
        out.append(Message.assistant(transcript_of(pending).rstrip("\n")))
    return out
