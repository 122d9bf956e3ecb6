"""Per-process fan-out of stream events to the WebSocket subscribers of this process.

Channels delivers a group message to every member channel. With 5,000 live-feed sockets in
one process that is, per event, 5,000 queue puts, 5,000 consumer wake-ups (an
``asyncio.wait`` each in ``await_many_dispatch``), 5,000 deserialisations, 5,000 JSON
encodings and 5,000 hops to the sync thread (``AsyncConsumer.dispatch`` runs
``close_old_connections`` there before every handler, one after the other). The hub joins
each group once per process (and event loop) with a channel of its own, encodes each event
once and hands the same text frame to the ASGI ``send`` of every local subscriber (on uvicorn's
``websockets-sansio`` protocol the frame's bytes, built once, go straight to the socket's
transport while ``send`` would write them at once; see :class:`_UvicornFrameWriter`).

Authorisation happens before ``subscribe`` (the consumer decides which group a socket may
join); nothing is checked per event. A subscriber gets each event of its group exactly once,
in publishing order. A socket that stops reading does not hold the others up: its send is
started eagerly, and only when the server has to wait for the socket to drain does the rest
of the send (and what follows it, up to ``BACKLOG_LIMIT`` frames) move to a task of its own.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import structlog
from channels.layers import get_channel_layer
from websockets.frames import Frame, Opcode
from websockets.protocol import OPEN as _OPEN

logger = structlog.get_logger(__name__)

# Frames kept for a socket that is not reading (about 100 KB of events); then it is dropped.
BACKLOG_LIMIT = 512
# channels-redis's list layer forgets group members after a day (group_expiry): re-join hourly.
GROUP_REFRESH_SECONDS = 3600.0

Send = Callable[[dict[str, Any]], Awaitable[None]]


class _UvicornFrameWriter:
    """Writes an event's WebSocket frame, built once, straight to a uvicorn socket's transport.

    Every subscriber of an event gets the same bytes on the wire (an unmasked text frame; the
    server never compresses the live feed), yet the ASGI ``send`` re-frames them per socket
    through two coroutines and websockets' ``Frame.serialize``: most of the hub's Python time
    per frame. This is used only for uvicorn's ``websockets-sansio`` protocol (the one we run,
    ``--ws websockets-sansio``), recognised by ``send`` being that protocol's own method, and
    only while that ``send`` would itself write the frame at once: the handshake done, the
    connection open, no close sent, no extension (permessage-deflate) negotiated, no
    fragmented message in progress, the transport not paused by back-pressure. Otherwise, or
    with any other server, :meth:`write` returns False and the frame goes through ``send``.
    uvicorn writes every frame of its own (pings, pongs, the close) to the transport as soon as
    it makes it, so frames written here keep their order with those.
    It reads uvicorn's and websockets' private state (uvicorn is pinned; a missing attribute
    means the plain ``send``): ``tests/core/test_fanout_uvicorn.py`` checks it against the
    installed versions (the frame equals what ``send`` writes, each refusal, order across
    back-pressure). Measured 2026-12-02: 7.0 → 3.5 µs of CPU per frame in process."""

    __slots__ = ("protocol",)

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    @classmethod
    def of(cls, send: Callable[..., Awaitable[None]]) -> _UvicornFrameWriter | None:
        protocol = getattr(send, "__self__", None)
        if protocol is None or getattr(send, "__func__", None) is not _sansio_send():
            return None
        conn = getattr(protocol, "conn", None)
        if not all(hasattr(protocol, name) for name in _PROTOCOL_STATE) or not all(
            hasattr(conn, name) for name in _CONNECTION_STATE
        ):  # another uvicorn or websockets than the one this was written for: the ASGI way
            return None
        return cls(protocol)

    def write(self, wire: bytes) -> bool:
        p = self.protocol
        conn = p.conn
        if (
            not p.handshake_complete
            or p.close_sent
            or p.disconnected
            or p.initial_response is not None
            or not p.writable.is_set()
            or conn.state is not _OPEN
            or conn.extensions
            or conn.expect_continuation_frame
            or p.transport.is_closing()
        ):
            return False
        p.transport.write(wire)
        return True


def _sansio_send() -> Any:
    """uvicorn's ``WebSocketsSansIOProtocol.send`` function, or None without that module."""
    global _SANSIO_SEND
    if _SANSIO_SEND is False:
        try:
            from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
        except ImportError:
            _SANSIO_SEND = None
        else:
            _SANSIO_SEND = WebSocketsSansIOProtocol.send
    return _SANSIO_SEND


_SANSIO_SEND: Any = False
# What _UvicornFrameWriter.write reads (uvicorn 0.54's protocol and websockets' connection).
_PROTOCOL_STATE = (
    "handshake_complete",
    "close_sent",
    "disconnected",
    "initial_response",
    "writable",
    "transport",
)
_CONNECTION_STATE = ("state", "extensions", "expect_continuation_frame")


def text_frame_bytes(text: str) -> bytes:
    """The unmasked, uncompressed WebSocket text frame of ``text``, as a server writes it."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def stream_frame_text(message: dict[str, Any]) -> str:
    """The client frame of a ``stream.event`` group message: ``{"type": event, "data": …}``."""
    return json.dumps({"type": message.get("event"), "data": message.get("data", {})})


def _start(coro: Coroutine[Any, Any, Any]) -> tuple[bool, Any]:
    """Run ``coro`` up to its first suspension: (finished, what it waits on).

    An ASGI server's ``send`` on a socket with room in its buffer writes and returns without
    ever suspending, so no task is created for it (Python 3.12's eager tasks, by hand)."""
    try:
        waiting = coro.send(None)
    except StopIteration:
        return True, None
    return False, waiting


async def _finish(coro: Coroutine[Any, Any, Any], waiting: Any) -> None:
    """Drive a coroutine that :func:`_start` left suspended on ``waiting`` to its end."""
    while True:
        try:
            if waiting is None:  # a bare yield (asyncio.sleep(0)): just let the loop turn
                await asyncio.sleep(0)
            else:  # wait without consuming the future's outcome: the coroutine reads it
                await asyncio.wait([waiting])
        except BaseException:
            coro.close()
            raise
        try:
            waiting = coro.send(None)
        except StopIteration:
            return


class Subscription:
    """One socket's membership of one group; frames reach ``send`` in order."""

    __slots__ = ("_backlog", "_closed", "_task", "events", "group", "hub", "on_overflow", "send", "writer")

    def __init__(
        self,
        hub: FanoutHub,
        group: _Group,
        send: Send,
        events: frozenset[str] | None,
        on_overflow: Callable[[], None] | None,
    ) -> None:
        self.hub = hub
        self.group = group
        self.send = send
        self.writer = _UvicornFrameWriter.of(send)
        self.events = events
        self.on_overflow = on_overflow
        # Until the first frame is sent, and while a send waits for the socket, frames queue here.
        self._backlog: deque[dict[str, Any]] | None = deque()
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    def push(self, frame: dict[str, Any], wire: bytes) -> None:
        """Send ``frame`` (an ASGI ``websocket.send``), whose bytes on the wire are ``wire``."""
        if self._closed:
            return
        if self._backlog is not None:
            if len(self._backlog) >= BACKLOG_LIMIT:
                self._overflow()
                return
            self._backlog.append(frame)
            return
        if self.writer is not None and self.writer.write(wire):
            return
        aw = self.send(frame)
        try:
            done, waiting = _start(aw) if asyncio.iscoroutine(aw) else (False, None)
        except Exception:  # the client is gone; its disconnect unsubscribes it
            logger.debug("stream_send_failed", exc_info=True)
            return
        if not done:
            self._backlog = deque()
            self._task = asyncio.ensure_future(self._drain(aw, waiting))

    async def _drain(self, aw: Any, waiting: Any) -> None:
        try:
            if asyncio.iscoroutine(aw):
                await _finish(aw, waiting)
            else:
                await aw
            while self._backlog:
                await self.send(self._backlog.popleft())
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.debug("stream_send_failed", exc_info=True)
        finally:
            self._backlog = None
            self._task = None

    async def open(self, first: dict[str, Any] | None) -> None:
        """Send ``first`` (the greeting), then what arrived meanwhile, then go live."""
        if first is not None:
            await self.send(first)
        while self._backlog:
            await self.send(self._backlog.popleft())
        self._backlog = None

    def _overflow(self) -> None:
        logger.warning("stream_subscriber_too_slow", group=self.group.name, backlog=BACKLOG_LIMIT)
        self._closed = True
        self._backlog = None
        self.hub.discard(self)
        if self.on_overflow is not None:
            self.on_overflow()

    async def close(self) -> None:
        """Leave the group (idempotent); the process leaves the layer's group with its last socket."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
        self._backlog = None
        await self.hub.unsubscribe(self)


class _Group:
    __slots__ = ("channel", "name", "pump", "ready", "subscriptions")

    def __init__(self, name: str) -> None:
        self.name = name
        self.channel = ""
        self.subscriptions: dict[Subscription, None] = {}  # an ordered set
        self.ready: asyncio.Future[None] | None = None
        self.pump: asyncio.Task[None] | None = None


class FanoutHub:
    """Joins each channel-layer group once for this process and fans its events out locally."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.groups: dict[str, _Group] = {}
        self._refresher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    async def subscribe(
        self,
        group: str,
        send: Send,
        *,
        first: dict[str, Any] | None = None,
        events: Iterable[str] | None = None,
        on_overflow: Callable[[], None] | None = None,
    ) -> Subscription:
        """Deliver ``group``'s events (only ``events`` if given) to ``send``.

        Returns once the layer delivers the group's events to this process and ``first`` has
        been sent: an event published after that reaches ``send``, after ``first``."""
        g = self.groups.get(group)
        if g is None:
            g = self.groups[group] = _Group(group)
            g.ready = asyncio.ensure_future(self._join(g))
        sub = Subscription(self, g, send, frozenset(events) if events is not None else None, on_overflow)
        g.subscriptions[sub] = None
        assert g.ready is not None
        try:
            await asyncio.shield(g.ready)
        except BaseException:
            await sub.close()
            raise
        await sub.open(first)
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.ensure_future(self._refresh_forever())
        return sub

    async def _join(self, g: _Group) -> None:
        try:
            g.channel = await self.layer.new_channel()
            await self.layer.group_add(g.name, g.channel)
        except BaseException:
            if self.groups.get(g.name) is g:
                del self.groups[g.name]
            raise
        g.pump = asyncio.ensure_future(self._pump(g))

    async def _pump(self, g: _Group) -> None:
        while True:
            try:
                message = await self.layer.receive(g.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("stream_receive_failed", group=g.name)
                await asyncio.sleep(1.0)
                continue
            self.deliver(g, message)

    def deliver(self, g: _Group, message: dict[str, Any]) -> None:
        if message.get("type") != "stream.event":
            logger.warning("stream_unknown_message", group=g.name, type=message.get("type"))
            return
        event = message.get("event")
        text = stream_frame_text(message)
        frame = {"type": "websocket.send", "text": text}  # shared: ASGI servers only read it
        wire = text_frame_bytes(text)
        for sub in list(g.subscriptions):
            if sub.events is None or event in sub.events:
                sub.push(frame, wire)

    def discard(self, sub: Subscription) -> None:
        """Forget ``sub`` now; the group is left later by :meth:`unsubscribe` or a new hub."""
        g = sub.group
        g.subscriptions.pop(sub, None)
        if not g.subscriptions and self.groups.get(g.name) is g:
            del self.groups[g.name]
            task = asyncio.ensure_future(self._leave(g))
            self._background.add(task)  # the loop keeps only a weak reference to a task
            task.add_done_callback(self._background.discard)

    async def unsubscribe(self, sub: Subscription) -> None:
        g = sub.group
        g.subscriptions.pop(sub, None)
        if not g.subscriptions and self.groups.get(g.name) is g:
            del self.groups[g.name]
            await self._leave(g)

    async def _leave(self, g: _Group) -> None:
        try:
            assert g.ready is not None
            await g.ready
        except BaseException:
            return
        try:
            await self.layer.group_discard(g.name, g.channel)
        except Exception:
            logger.exception("stream_group_discard_failed", group=g.name)
        if g.pump is not None:
            g.pump.cancel()

    async def _refresh_forever(self) -> None:
        while self.groups:
            await asyncio.sleep(GROUP_REFRESH_SECONDS)
            for g in list(self.groups.values()):
                if g.ready is not None and g.ready.done() and not g.ready.exception():
                    try:
                        await self.layer.group_add(g.name, g.channel)
                    except Exception:
                        logger.exception("stream_group_refresh_failed", group=g.name)


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, FanoutHub] = weakref.WeakKeyDictionary()


def fanout_hub() -> FanoutHub:
    """The hub of the running event loop (one per uvicorn worker), on the current channel layer."""
    loop = asyncio.get_running_loop()
    layer = get_channel_layer()
    hub = _hubs.get(loop)
    if hub is None or hub.layer is not layer:
        hub = _hubs[loop] = FanoutHub(layer)
    return hub
