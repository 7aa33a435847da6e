"""Speed and memory benchmarks: the agent loop, the interpreter, MCP, the server and the local backend."""
