"""``manage.py mcp``: the AgentPay MCP server over stdio (for Claude Desktop, IDEs, local agents)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = "Serve the AgentPay MCP tools over stdio, authenticated by an organisation API key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--api-key",
            default=None,
            help="Organisation API key (default: the AGENTPAY_API_KEY environment variable).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.conversations.mcp.server import mcp_server_build
        from apps.core.authentication import api_key_resolve

        raw = options["api_key"] or os.environ.get("AGENTPAY_API_KEY", "")
        if not raw or api_key_resolve(raw) is None:
            raise CommandError("A valid API key is required (--api-key or AGENTPAY_API_KEY).")
        # stdout carries the protocol: nothing else may be printed there.
        mcp_server_build(stdio_api_key=raw).run("stdio")
