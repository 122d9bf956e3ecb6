"""MCP server for AI agents (official ``mcp`` SDK): streamable HTTP under /mcp, stdio via ``manage.py mcp``."""
