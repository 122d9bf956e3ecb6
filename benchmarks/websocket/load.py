"""Load process of the WebSocket benchmark: opens N live-feed connections, then (for the
publisher shard) broadcasts timestamped events to the organisation's group the way a Celery
task does (``group_send_now``, BENCH_WS_PUBLISH=service) or straight through the layer
(BENCH_WS_PUBLISH=layer), and reports when each connection received each event as one JSON file.

The client is deliberately lean so that what is measured is the server: a raw asyncio
protocol per socket on uvloop (RFC 6455 handshake and frame parsing by hand, pongs answered),
no task per socket and no JSON decoding per event (only the event's ``seq`` is sliced out of
the frame and checked to follow the previous one; the latency is the receive time minus the
publish time of that ``seq``, computed by ``run.py``; the greeting and every hundredth event are
decoded and checked in full). It offers permessage-deflate as browsers do and inflates if the server accepts.

Usage: load.py URL N SHARD SHARDS REDIS_URL PREFIX GROUP EVENTS GAP_SECONDS RESULT_FILE
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import resource
import sys
import time
import zlib
from typing import Any
from urllib.parse import urlsplit

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SEQ = b'"seq": '
DEFLATE_TAIL = b"\x00\x00\xff\xff"

recv_seq: list[int] = []
recv_at: list[float] = []
problems: list[str] = []


def _number_after(payload: bytes, marker: bytes) -> bytes:
    i = payload.find(marker)
    if i < 0:
        return b""
    i += len(marker)
    j = i
    while j < len(payload) and payload[j] in b"0123456789.e-+":
        j += 1
    return payload[i:j]


class FeedClient(asyncio.Protocol):
    """One live-feed socket: handshake, greeting, then event frames."""

    def __init__(self, request: bytes, accept: bytes, offer_deflate: bool) -> None:
        self.request = request
        self.accept = accept
        self.offer_deflate = offer_deflate
        self.buf = b""
        self.upgraded = False
        self.inflater: Any = None
        self.hello: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.events = 0
        self.last_seq = -1

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.hello.done():
            self.hello.set_exception(ConnectionError("closed before the greeting"))

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if (
            self.upgraded
            and not self.buf
            and self.inflater is None
            and data[0] == 0x81  # one whole unfragmented text frame, the usual read
            and data[1] < 126
            and len(data) == 2 + data[1]
        ):
            self.on_text(data[2:], now)
            return
        buf = self.buf + data if self.buf else data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head, buf = buf[:end].decode("latin-1"), buf[end + 4 :]
            lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
            if (
                " 101 " not in lines[0] + " "
                or headers.get("sec-websocket-accept", "").encode() != self.accept
            ):
                self.hello.set_exception(ConnectionError(lines[0]))
                self.transport.close()
                return
            if "permessage-deflate" in headers.get("sec-websocket-extensions", ""):
                self.inflater = zlib.decompressobj(-15)
            self.upgraded = True
        pos, size = 0, len(buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length, head = b1 & 0x7F, 2
            if length == 126:
                if size - pos < 4:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 4], "big"), 4
            elif length == 127:
                if size - pos < 10:
                    break
                length, head = int.from_bytes(buf[pos + 2 : pos + 10], "big"), 10
            if size - pos < head + length:
                break
            payload = buf[pos + head : pos + head + length]
            pos += head + length
            opcode = b0 & 0x0F
            if b0 & 0x40 and self.inflater is not None:  # RSV1: a compressed message
                payload = self.inflater.decompress(payload + DEFLATE_TAIL)
            if opcode == 1:
                self.on_text(payload, now)
            elif opcode == 9:  # ping → pong (client frames are masked; a zero mask is valid)
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\x00\x00\x00\x00" + payload)
            elif opcode == 8:
                self.transport.close()
        self.buf = buf[pos:] if pos < size else b""

    def on_text(self, payload: bytes, now: float) -> None:
        if not self.hello.done():
            frame = json.loads(payload)
            if frame.get("type") == "subscribed":
                self.hello.set_result(frame)
            else:
                self.hello.set_exception(ConnectionError(f"unexpected first frame {frame!r}"))
            return
        digits = _number_after(payload, SEQ)
        if not digits:
            return
        seq = int(digits)
        if seq <= self.last_seq:  # a duplicate or out of order: each event once, in publishing order
            problems.append(f"event {seq} after event {self.last_seq} on one socket")
        self.last_seq = seq
        self.events += 1
        # Only what measuring needs per frame: the publish time of `seq` is looked up afterwards
        # (every frame of an event carries the same one).
        recv_seq.append(seq)
        recv_at.append(now)
        if len(recv_seq) % 100 == 0:  # a sample of frames checked in full
            frame = json.loads(payload)
            data = frame.get("data", {})
            if (
                frame.get("type") != "payment_completed"
                or data.get("currency") != "BRL"
                or data.get("seq") != seq
                or not isinstance(data.get("sent_at"), float)
            ):
                problems.append(f"unexpected frame {frame!r}")


def _publisher(redis_url: str, prefix: str) -> Any:
    """How events are published: ``service`` (default) as a Celery task or a service's on_commit
    does, through ``apps.core.events.group_send_now`` under the server's settings; ``layer``
    straight through a channels-redis layer on this process's loop."""
    if os.environ.get("BENCH_WS_PUBLISH", "service") == "service":
        import django

        django.setup()
        from apps.core.events import group_send_now

        loop = asyncio.get_running_loop()

        async def through_service(group: str, message: dict[str, Any]) -> None:
            await loop.run_in_executor(None, group_send_now, [group], message)

        return through_service
    if os.environ.get("CHANNEL_LAYER", "pubsub") == "core":
        from channels_redis.core import RedisChannelLayer

        layer: Any = RedisChannelLayer(hosts=[redis_url], prefix=prefix, capacity=1000, expiry=30)
    else:
        from channels_redis.pubsub import RedisPubSubChannelLayer

        layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=prefix)

    async def through_layer(group: str, message: dict[str, Any]) -> None:
        await layer.group_send(group, message)

    return through_layer


async def main() -> None:
    url, n, shard, _shards, redis_url, prefix, group, events, gap, out = sys.argv[1:11]
    n_conn, n_events, gap_s = int(n), int(events), float(gap)
    offer_deflate = os.environ.get("BENCH_WS_CLIENT_DEFLATE", "1") == "1"
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    loop = asyncio.get_running_loop()
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    target = parts.path + (f"?{parts.query}" if parts.query else "")

    protocols: list[FeedClient] = []
    failures = 0
    gate = asyncio.Semaphore(25)  # handshakes in flight

    def factory() -> FeedClient:
        key = base64.b64encode(os.urandom(16))
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n"
            + (
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
                if offer_deflate
                else ""
            )
            + "\r\n"
        ).encode()
        return FeedClient(request, accept, offer_deflate)

    async def open_one() -> None:
        nonlocal failures
        async with gate:
            for _ in range(3):
                try:
                    _, proto = await asyncio.wait_for(loop.create_connection(factory, host, port), 30)
                    await asyncio.wait_for(asyncio.shield(proto.hello), 30)
                    protocols.append(proto)
                    return
                except Exception:
                    await asyncio.sleep(0.2)
            failures += 1

    publish = _publisher(redis_url, prefix) if int(shard) == 0 else None
    t0 = time.time()
    await asyncio.gather(*(open_one() for _ in range(n_conn)))
    ramp = time.time() - t0
    if publish is not None:
        # A Celery worker publishes from a warm process: start the publishing loop and its Redis
        # connection now (on a group nobody joined), not inside the first measured event.
        await publish(f"{group}.warm-up", {"type": "stream.event", "event": "warm_up", "data": {}})
    print(
        json.dumps({"shard": shard, "ready": len(protocols), "failed": failures, "ramp_s": ramp}), flush=True
    )
    # Wait for every shard to be connected (the driver writes a "go" line on stdin).
    await loop.run_in_executor(None, sys.stdin.readline)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    sent_at: list[float] = []
    if publish is not None:
        for seq in range(n_events):
            now = time.time()
            sent_at.append(now)
            await publish(
                group,
                {
                    "type": "stream.event",
                    "event": "payment_completed",
                    "data": {"seq": seq, "sent_at": now, "amount": "30.00", "currency": "BRL"},
                },
            )
            await asyncio.sleep(gap_s)
    else:
        await asyncio.sleep(n_events * gap_s)
    await asyncio.sleep(2.0)  # stragglers
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    per_conn = [p.events for p in protocols]
    # The driver reads the server's CPU time now, before 10,000 disconnects are added to it.
    print(json.dumps({"shard": shard, "listened": True}), flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    for p in protocols:
        p.transport.close()
    with open(out, "w") as f:
        json.dump(
            {
                "connected": len(protocols),
                "failed": failures,
                "ramp_s": ramp,
                "received_at": recv_at,
                "seq": recv_seq,
                "sent_at": sent_at,
                "events_per_connection_max": max(per_conn, default=0),
                "events_per_connection_min": min(per_conn, default=0),
                "cpu_s": (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime),
                "sys_s": cpu1.ru_stime - cpu0.ru_stime,
                "deflate": any(p.inflater is not None for p in protocols),
                "problems": problems[:5],
            },
            f,
        )


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(main())
