"""Serve the MCP server's streamable-HTTP transport under a path prefix of the ASGI app.

``/mcp`` requires an API key (``X-Api-Key: <key>`` or ``Authorization: Api-Key
<key>`` or ``Authorization: Bearer <key>``); a missing or invalid key gets 401
with the usual error body. The transport runs stateless with JSON responses,
so any web process (and any number of them) answers any request. Daphne and
uvicorn run one event loop per process; the SDK's session manager is started
lazily on it, since Channels' router has no ASGI lifespan to start it in.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from typing import Any

from asgiref.sync import sync_to_async

from apps.conversations.mcp.server import KEY_ID_HEADER

_KEY_HEADER = KEY_ID_HEADER.encode()


def _raw_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    values = {k.lower(): v.decode("latin1") for k, v in headers}
    if values.get(b"x-api-key"):
        return values[b"x-api-key"].strip()
    auth = values.get(b"authorization", "")
    for prefix in ("Api-Key ", "Bearer "):
        if auth.startswith(prefix):
            return auth[len(prefix) :].strip()
    return None


@sync_to_async
def _key_id(raw: str) -> str | None:
    from apps.core.authentication import api_key_resolve

    key = api_key_resolve(raw)
    return str(key.pk) if key is not None else None


async def _deny(send: Any, status: int, code: str, message: str) -> None:
    body = json.dumps({"code": code, "message": message, "errors": {}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b"Api-Key"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _Running:
    """The MCP Starlette app and its session manager, started on one event loop."""

    def __init__(self) -> None:
        from mcp.server.transport_security import TransportSecuritySettings

        from apps.conversations.mcp.server import mcp_server_build

        server = mcp_server_build()
        # Host/Origin are checked by Django's ALLOWED_HOSTS and the API key; the SDK's
        # localhost-only DNS-rebinding guard would refuse every deployed host name.
        self.app = server.streamable_http_app(
            streamable_http_path="/mcp",
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.manager = server.session_manager
        self.ready = asyncio.Event()
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async with self.manager.run():
            self.ready.set()
            await asyncio.Event().wait()


class MCPMount:
    """ASGI middleware: requests under ``prefix`` go to the MCP server, the rest to ``app``."""

    def __init__(self, app: Any, *, prefix: str = "/mcp") -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        self._running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Running] = (
            weakref.WeakKeyDictionary()
        )

    def _matches(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or not self._matches(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        raw = _raw_key(scope.get("headers", []))
        key_id = await _key_id(raw) if raw else None
        if key_id is None:
            await _deny(send, 401, "authentication_failed", "A valid API key is required for /mcp.")
            return
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != _KEY_HEADER]
        headers.append((_KEY_HEADER, key_id.encode()))
        inner = dict(scope, headers=headers, path="/mcp", raw_path=b"/mcp", root_path="")
        loop = asyncio.get_running_loop()
        running = self._running.get(loop)
        if running is None:
            running = self._running[loop] = _Running()
        await running.ready.wait()
        await running.app(inner, receive, send)


def mcp_mount(app: Any, *, prefix: str) -> Any:
    """Wrap the HTTP app so ``prefix`` serves MCP (streamable HTTP)."""
    return MCPMount(app, prefix=prefix)
