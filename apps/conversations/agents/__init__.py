"""AI agents: the operations the MCP server exposes, also over REST (``/api/v1/agents/...``)."""
