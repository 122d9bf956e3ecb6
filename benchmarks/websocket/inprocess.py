"""CPU per delivered frame of the live feed's fan-out, in one process, without the network.

N real uvicorn WebSocket protocols (``--ws`` implementation as in production) on fake
transports that only count bytes, each running an ASGI app that joins one group; events are
sent to the group through an in-memory channel layer. Two ways of fanning out are measured:

- ``hub``: ``apps.core.fanout`` (one channel per group and process, frame encoded once; on the
  ``websockets-sansio`` protocol its bytes written straight to each transport);
- ``channels``: a plain ``AsyncJsonWebsocketConsumer`` per socket in the group (what the
  live feed did before), with Channels' dispatch (a thread hop per event and socket);
- ``stack``: the project's own WebSocket application (origin check, session, cookie and token
  middleware, ``StreamConsumer`` on ``/api/v1/stream``) as uvicorn runs it, each socket
  authenticated with a JWT: the hub plus whatever the middleware adds to every send. It needs
  ``DATABASE_URL`` of a migrated database (the user and organisation are created there).

Prints CPU microseconds per delivered frame (time.process_time, so other load on the machine
does not change it) and, with BENCH_PROFILE=1, the top functions of a cProfile run.
Env: BENCH_WS_CONNECTIONS (2000), BENCH_WS_EVENTS (5), BENCH_WS_IMPL (websockets-sansio or
wsproto), BENCH_WS_MODE (both = hub and channels, or one of hub, channels, stack).
"""

from __future__ import annotations

import asyncio
import base64
import cProfile
import gc
import os
import pstats
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "agentpay.settings.test")
os.environ.pop("REDIS_URL", None)  # the in-memory layer: this measures the process, not Redis

import django

django.setup()

from channels.generic.websocket import AsyncJsonWebsocketConsumer  # noqa: E402
from channels.layers import get_channel_layer  # noqa: E402
from uvicorn.config import Config  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from apps.core.fanout import fanout_hub  # noqa: E402

GROUP = "org.bench"
EVENT = {
    "type": "stream.event",
    "event": "payment_completed",
    "data": {"payment_id": "2f0c6a1e-6c1b-4c55-9b8e-2b1f2d0e9a11", "amount": "30.00", "currency": "BRL"},
}


class CountingTransport:
    """Stands in for the socket: counts what the server writes."""

    total_frames = 0  # over every transport: what the benchmark waits for

    def __init__(self) -> None:
        self.written = 0
        self.frames = 0
        self.closing = False

    def write(self, data: bytes) -> None:
        self.written += len(data)
        self.frames += 1
        CountingTransport.total_frames += 1

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def set_protocol(self, protocol: Any) -> None:
        pass

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def hub_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    message = await receive()
    assert message["type"] == "websocket.connect"
    await send({"type": "websocket.accept"})
    subscription = await fanout_hub().subscribe(GROUP, send)
    while (await receive())["type"] != "websocket.disconnect":
        pass
    await subscription.close()


class PlainConsumer(AsyncJsonWebsocketConsumer):
    groups = [GROUP]

    async def stream_event(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": message["event"], "data": message.get("data", {})})


def protocol_class(impl: str) -> Any:
    if impl == "wsproto":
        from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

        return WSProtocol
    from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

    return WebSocketsSansIOProtocol


def stack_app() -> tuple[Any, str, str]:
    """The project's WebSocket application, a JWT of a member and the organisation's group."""
    from rest_framework_simplejwt.tokens import AccessToken

    from agentpay.asgi import application_build
    from apps.core.models import Membership, Organization, User

    org, _ = Organization.objects.get_or_create(slug="bench-ws", defaults={"name": "Bench WS"})
    user, _ = User.objects.get_or_create(username="bench-ws")
    Membership.objects.get_or_create(organization=org, user=user, defaults={"role": "owner"})
    router = application_build(None)
    return router.application_mapping["websocket"], f"?token={AccessToken.for_user(user)}", f"org.{org.pk}"


async def run(
    mode: str, n: int, events: int, impl: str, profiler: cProfile.Profile | None
) -> tuple[float, int]:
    query, group = "", GROUP
    if mode == "stack":
        app, query, group = await asyncio.get_running_loop().run_in_executor(None, stack_app)
    else:
        app = hub_app if mode == "hub" else PlainConsumer.as_asgi()
    config = Config(app=app, ws=impl, ws_per_message_deflate=False, log_level="warning", lifespan="off")
    config.load()
    state = ServerState()
    cls = protocol_class(impl)
    transports = []
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /api/v1/stream{query} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    protocols = []
    for _ in range(n):
        proto = cls(config=config, server_state=state, app_state={})
        transport = CountingTransport()
        proto.connection_made(transport)
        proto.data_received(request)
        protocols.append(proto)
        transports.append(transport)
    layer = get_channel_layer()
    # let every app accept and join the group
    t_join = time.perf_counter()
    while time.perf_counter() - t_join < 30 + n / 20:  # the stack authenticates each on the sync thread
        await asyncio.sleep(0.01)
        joined = sum(len(g.subscriptions) for g in fanout_hub().groups.values())
        if mode != "channels" and joined == n and CountingTransport.total_frames >= 2 * n:
            break  # the handshake answer and the greeting of every socket are written
        if mode == "channels" and len(layer.groups.get(GROUP, {})) == n:
            break
    print(f"  {joined} of {n} sockets subscribed in {time.perf_counter() - t_join:.1f} s")
    await asyncio.sleep(0.2)
    collections = [0, 0, 0]
    gc_seconds = 0.0
    gc_started = 0.0

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        nonlocal gc_seconds, gc_started
        if phase == "start":
            gc_started = time.perf_counter()
        else:
            collections[info["generation"]] += 1
            gc_seconds += time.perf_counter() - gc_started

    before = CountingTransport.total_frames
    gc.callbacks.append(on_gc)
    if profiler is not None:
        profiler.enable()
    cpu0 = time.process_time()
    for _ in range(events):
        await layer.group_send(group, EVENT)
        target = before + n  # wait until every socket has written the frame
        for _ in range(10000):
            if CountingTransport.total_frames >= target:
                break
            await asyncio.sleep(0.001)
        before = target
    cpu = time.process_time() - cpu0
    if profiler is not None:
        profiler.disable()
    gc.callbacks.remove(on_gc)
    delivered = CountingTransport.total_frames - (before - events * n)
    print(
        f"  gc during the events: {collections[0]}/{collections[1]}/{collections[2]} collections of "
        f"generation 0/1/2, {1e3 * gc_seconds:.1f} ms; {len(gc.get_objects())} tracked objects "
        f"({gc.get_freeze_count()} frozen)"
    )
    for proto in protocols:
        proto.connection_lost(None)
    await asyncio.sleep(0.2)
    return cpu, delivered


def main() -> None:
    n = int(os.environ.get("BENCH_WS_CONNECTIONS", "2000"))
    events = int(os.environ.get("BENCH_WS_EVENTS", "5"))
    impl = os.environ.get("BENCH_WS_IMPL", "websockets-sansio")
    modes = os.environ.get("BENCH_WS_MODE", "both")
    profile = os.environ.get("BENCH_PROFILE") == "1"
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    for mode in ("hub", "channels") if modes == "both" else (modes,):
        # the in-memory layer keeps at most `capacity` messages per channel; one group, n members
        get_channel_layer().capacity = 1000
        profiler = cProfile.Profile() if profile else None
        cpu, delivered = asyncio.run(run(mode, n, events, impl, profiler))
        print(
            f"{mode:8s} --ws {impl}: {n} sockets x {events} events, {delivered} frames written, "
            f"CPU {1e6 * cpu / max(delivered, 1):.1f} us per frame"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
