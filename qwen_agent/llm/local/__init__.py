"""The local engine behind `get_llm("transformers")`: loading, precision, KV sessions, batching, decoding."""
