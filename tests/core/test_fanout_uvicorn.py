"""The fan-out hub on uvicorn's real ``websockets-sansio`` protocol (fake transports, no network):
the frame written straight to the transport is byte for byte what uvicorn's ``send`` writes,
it is used only while ``send`` would write at once, and every socket still gets each event once,
in order, after its greeting, across back-pressure. These tests pin the private uvicorn and
websockets state that ``apps.core.fanout._UvicornFrameWriter`` reads."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from uvicorn.config import Config
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState
from websockets.frames import Frame
from websockets.protocol import Protocol as _ParserProtocol
from websockets.protocol import Side

from apps.core.fanout import FanoutHub, _UvicornFrameWriter, text_frame_bytes

pytestmark = pytest.mark.asyncio


class Transport:
    """Records what the server writes; ``writable`` False plays a full socket buffer."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        self.chunks.append(data)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def texts(self) -> list[Any]:
        """The text frames written after the handshake, decoded as a client would."""
        client = _ParserProtocol(Side.CLIENT)
        client.receive_data(b"".join(self.chunks).split(b"\r\n\r\n", 1)[1])
        return [
            json.loads(e.data)
            for e in client.events_received()
            if isinstance(e, Frame) and e.opcode.value == 1
        ]


def connect(app: Any, *, deflate: bool = False) -> tuple[WebSocketsSansIOProtocol, Transport]:
    config = Config(app=app, ws="websockets-sansio", ws_per_message_deflate=deflate, lifespan="off")
    config.load()
    protocol = WebSocketsSansIOProtocol(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    key = base64.b64encode(os.urandom(16)).decode()
    protocol.data_received(
        (
            "GET /api/v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            + ("Sec-WebSocket-Extensions: permessage-deflate\r\n" if deflate else "")
            + "\r\n"
        ).encode()
    )
    return protocol, transport


def event(n: int) -> dict[str, Any]:
    return {"type": "stream.event", "event": "payment_completed", "data": {"n": n, "currency": "BRL"}}


async def settle(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)


def hub_app(hub: FanoutHub, group: str = "org.a") -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        hello = {"type": "websocket.send", "text": json.dumps({"type": "subscribed"})}
        sub = await hub.subscribe(group, send, first=hello)
        while (await receive())["type"] != "websocket.disconnect":
            pass
        await sub.close()

    return app


def accepting_app(accepted: asyncio.Event, proceed: asyncio.Event | None = None) -> Any:
    """An ASGI app that accepts (once ``proceed`` is set, if given) and waits for the disconnect."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await receive()
        if proceed is not None:
            await proceed.wait()
        await send({"type": "websocket.accept"})
        accepted.set()
        while (await receive())["type"] != "websocket.disconnect":
            pass

    return app


async def test_the_frame_written_directly_is_the_one_uvicorns_send_writes() -> None:
    # given an accepted uvicorn socket
    accepted = asyncio.Event()
    protocol, transport = connect(accepting_app(accepted))
    await asyncio.wait_for(accepted.wait(), 5)
    text = json.dumps({"type": "payment_completed", "data": {"amount": "30.00", "memo": "café ☕" * 40}})
    # when the same text goes once through uvicorn's send and once through the writer
    await protocol.send({"type": "websocket.send", "text": text})
    through_send = transport.chunks[-1]
    writer = _UvicornFrameWriter.of(protocol.send)
    assert writer is not None
    assert writer.write(text_frame_bytes(text)) is True
    # then the bytes on the wire are the same
    assert transport.chunks[-1] == through_send
    protocol.connection_lost(None)


async def test_the_writer_refuses_whenever_send_would_not_write_at_once() -> None:
    accepted, proceed = asyncio.Event(), asyncio.Event()
    protocol, _transport = connect(accepting_app(accepted, proceed))
    writer = _UvicornFrameWriter.of(protocol.send)
    assert writer is not None
    wire = text_frame_bytes('{"type": "x"}')
    await asyncio.sleep(0.05)
    assert writer.write(wire) is False  # before the handshake
    proceed.set()
    await asyncio.wait_for(accepted.wait(), 5)
    protocol.pause_writing()
    assert writer.write(wire) is False  # the transport asked us to stop (back-pressure)
    protocol.resume_writing()
    assert writer.write(wire) is True
    await protocol.send({"type": "websocket.close", "code": 1000})
    assert writer.write(wire) is False  # after the close frame
    protocol.connection_lost(None)
    assert writer.write(wire) is False


async def test_with_permessage_deflate_every_frame_goes_through_send() -> None:
    accepted = asyncio.Event()
    protocol, _transport = connect(accepting_app(accepted), deflate=True)
    await asyncio.wait_for(accepted.wait(), 5)
    assert protocol.conn.extensions  # negotiated
    writer = _UvicornFrameWriter.of(protocol.send)
    assert writer is not None
    assert writer.write(text_frame_bytes('{"type": "x"}')) is False
    protocol.connection_lost(None)


async def test_any_other_send_is_used_the_asgi_way() -> None:
    async def send(message: dict[str, Any]) -> None:
        pass

    assert _UvicornFrameWriter.of(send) is None


async def test_uvicorn_sockets_get_the_greeting_then_each_event_once_in_order_across_back_pressure() -> None:
    # given 20 uvicorn sockets subscribed through the hub
    layer = InMemoryChannelLayer()
    hub = FanoutHub(layer)
    sockets = [connect(hub_app(hub)) for _ in range(20)]
    await settle(lambda: sum(len(g.subscriptions) for g in hub.groups.values()) == 20)
    await settle(lambda: all(len(t.chunks) >= 2 for _, t in sockets))  # handshake answer, greeting
    # when one socket stops draining for three events and catches up before two more
    slow_protocol, slow = sockets[0]
    slow_protocol.pause_writing()
    for n in range(3):
        await layer.group_send("org.a", event(n))
    fast = [t for _, t in sockets[1:]]
    await settle(lambda: all(len(t.texts()) == 4 for t in fast))
    assert slow.texts() == [{"type": "subscribed"}]
    slow_protocol.resume_writing()
    for n in range(3, 5):
        await layer.group_send("org.a", event(n))
    # then every socket got the greeting first and each event once, in publishing order
    await settle(lambda: all(len(t.texts()) == 6 for _, t in sockets))
    await asyncio.sleep(0.1)  # a duplicate would have arrived by now
    expected = [{"type": "subscribed"}] + [
        {"type": "payment_completed", "data": {"n": n, "currency": "BRL"}} for n in range(5)
    ]
    assert all(t.texts() == expected for _, t in sockets)
    for protocol, _ in sockets:
        protocol.connection_lost(None)
    await settle(lambda: not hub.groups)
