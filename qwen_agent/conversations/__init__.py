"""Conversations kept in one SQLite file, so that they outlive the process (`ConversationStore`; the web UI
keeps its conversations in one, and a script can resume a conversation with it: see `store`)."""

from qwen_agent.conversations.schema import SCHEMA_V1, SCHEMA_VERSION
from qwen_agent.conversations.store import ConversationInfo, ConversationStore, Record, Status, StoreError

__all__ = ["SCHEMA_V1", "SCHEMA_VERSION", "ConversationInfo", "ConversationStore", "Record", "Status", "StoreError"]
