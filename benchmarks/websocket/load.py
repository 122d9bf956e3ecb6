"""Load process of the WebSocket benchmark: opens N live-feed connections, then (for the
publisher shard) broadcasts timestamped events to the organisation's group through the
Redis channel layer, and reports per-connection fan-out latencies as one JSON line.

Usage: load.py URL N SHARD SHARDS REDIS_URL PREFIX GROUP EVENTS GAP_SECONDS RESULT_FILE
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import sys
import time
from typing import Any


async def main() -> None:
    url, n, shard, _shards, redis_url, prefix, group, events, gap, out = sys.argv[1:11]
    n_conn, n_events, gap_s = int(n), int(events), float(gap)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    from websockets.asyncio.client import connect

    latencies: list[float] = []
    received: dict[int, int] = {}
    failures = 0
    connected = 0
    sockets = []
    gate = asyncio.Semaphore(25)  # handshakes in flight

    async def open_one() -> None:
        nonlocal failures, connected
        async with gate:
            for _ in range(3):
                try:
                    ws = await connect(url, open_timeout=30, ping_interval=None, max_queue=64)
                    hello = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    assert hello["type"] == "subscribed", hello
                    sockets.append(ws)
                    connected += 1
                    return
                except Exception:
                    await asyncio.sleep(0.2)
            failures += 1

    async def reader(ws) -> None:  # type: ignore[no-untyped-def]
        try:
            async for raw in ws:
                now = time.time()
                frame = json.loads(raw)
                data = frame.get("data") or {}
                if "sent_at" in data:
                    latencies.append((now - data["sent_at"]) * 1000)
                    received[data["seq"]] = received.get(data["seq"], 0) + 1
        except Exception:
            pass

    t0 = time.time()
    await asyncio.gather(*(open_one() for _ in range(n_conn)))
    ramp = time.time() - t0
    readers = [asyncio.create_task(reader(ws)) for ws in sockets]
    print(json.dumps({"shard": shard, "ready": connected, "failed": failures, "ramp_s": ramp}), flush=True)
    # Wait for every shard to be connected (the driver writes a "go" line on stdin).
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    if int(shard) == 0:
        # publish through the same kind of layer as the server (CHANNEL_LAYER, default pubsub)
        if os.environ.get("CHANNEL_LAYER", "pubsub") == "core":
            from channels_redis.core import RedisChannelLayer

            layer: Any = RedisChannelLayer(hosts=[redis_url], prefix=prefix, capacity=1000, expiry=30)
        else:
            from channels_redis.pubsub import RedisPubSubChannelLayer

            layer = RedisPubSubChannelLayer(hosts=[redis_url], prefix=prefix)
        for seq in range(n_events):
            await layer.group_send(
                group,
                {
                    "type": "stream.event",
                    "event": "payment_completed",
                    "data": {"seq": seq, "sent_at": time.time(), "amount": "30.00", "currency": "BRL"},
                },
            )
            await asyncio.sleep(gap_s)
    else:
        await asyncio.sleep(n_events * gap_s)
    await asyncio.sleep(2.0)  # stragglers
    for task in readers:
        task.cancel()
    await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    with open(out, "w") as f:
        json.dump(
            {
                "connected": connected,
                "failed": failures,
                "ramp_s": ramp,
                "latencies_ms": latencies,
                "received": received,
            },
            f,
        )


if __name__ == "__main__":
    asyncio.run(main())
