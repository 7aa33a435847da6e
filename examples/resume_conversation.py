"""Resume a conversation after the process ended: its messages are kept in a SQLite file.

Run: python examples/resume_conversation.py chats.sqlite "How much is one apple?"
     python examples/resume_conversation.py chats.sqlite "And how much would five of them cost?"
The second process answers with the first one's conversation as its history.
"""

import sys

from qwen_agent import Agent, tool
from qwen_agent.conversations import ConversationStore


@tool
def unit_price(item: str) -> float:
    """Price of one unit of an item, in yuan."""
    return {"apple": 3.5, "pear": 4.0}.get(item.lower(), 10.0)


if __name__ == "__main__":
    path, question = sys.argv[1], sys.argv[2]
    with Agent(tools=[unit_price], system="You are a shop assistant. Be brief.") as agent, \
            ConversationStore(path) as store:
        latest = store.list()  # the most recently updated first
        cid = latest[0].id if latest else store.create()
        history = store.load(cid)
        result = agent.run_result(question, history=history)
        store.save(cid, result.messages)
        print(f"({len(history)} earlier messages) A: {result.answer}")
