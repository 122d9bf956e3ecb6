"""The MCP server's streamable-HTTP transport, called by the Django view of ``/mcp`` (``views.py``).

The transport runs stateless with JSON responses, so any web process (and any
number of them) answers any request, and one POST gets one JSON answer. The
SDK's session manager needs a running task group: it is started lazily, once per
event loop (uvicorn and daphne run one per process; a WSGI worker's view gets a
short-lived loop per request from ``async_to_sync``, which cancels it at the end).
"""

from __future__ import annotations

import asyncio
import contextvars
import weakref
from typing import Any

from apps.conversations.mcp.server import KEY_ID_HEADER

MCP_PATH = "/mcp"


class _Running:
    """The MCP Starlette app and its session manager, started on one event loop."""

    def __init__(self) -> None:
        from mcp.server.transport_security import TransportSecuritySettings

        from apps.conversations.mcp.server import mcp_server_build

        server = mcp_server_build()
        # Django checked Host against ALLOWED_HOSTS and the view the API key; the SDK's
        # localhost-only DNS-rebinding guard would refuse every deployed host name.
        self.app = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self.manager = server.session_manager
        self.ready = asyncio.Event()
        # A context of its own: the manager outlives the request that happened to start it.
        self.task = asyncio.get_running_loop().create_task(self._run(), context=contextvars.Context())

    async def _run(self) -> None:
        async with self.manager.run():
            self.ready.set()
            await asyncio.Event().wait()


_running: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Running] = weakref.WeakKeyDictionary()


async def _app() -> Any:
    loop = asyncio.get_running_loop()
    running = _running.get(loop)
    if running is None:
        running = _running[loop] = _Running()
    await running.ready.wait()
    return running.app


async def mcp_request(
    *,
    method: str,
    headers: list[tuple[bytes, bytes]],
    body: bytes,
    key_id: str,
    query_string: bytes = b"",
    scheme: str = "http",
    client: tuple[str, int] | None = None,
    server: tuple[str, int] | None = None,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """One HTTP request to the MCP transport on behalf of the verified API key ``key_id``:
    ``(status, headers, body)`` of its (JSON, non-streaming) answer.

    A client-sent ``X-AgentPay-Api-Key-Id`` header is always replaced by ``key_id``.
    """
    marker = KEY_ID_HEADER.encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": scheme,
        "path": MCP_PATH,
        "raw_path": MCP_PATH.encode(),
        "root_path": "",
        "query_string": query_string,
        "headers": [(k, v) for k, v in headers if k.lower() != marker] + [(marker, key_id.encode())],
        "client": client,
        "server": server,
    }
    answered = asyncio.Event()
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await answered.wait()  # the client "disconnects" only once the answer is complete
        return {"type": "http.disconnect"}

    status = 500
    response_headers: list[tuple[bytes, bytes]] = []
    chunks: list[bytes] = []

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, response_headers
        if message["type"] == "http.response.start":
            status = int(message["status"])
            response_headers = list(message.get("headers") or [])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                answered.set()

    app = await _app()
    try:
        await app(scope, receive, send)
    finally:
        answered.set()
    return status, response_headers, b"".join(chunks)
