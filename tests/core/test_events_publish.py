"""Publishing from sync code (services' on_commit, Celery tasks) on the Redis layer: one
long-lived publishing loop per process instead of a new loop and Redis connection per event."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer

from apps.core import events
from apps.core.fanout import FanoutHub


class Socket:
    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        self.frames.append(json.loads(message["text"]))


@pytest.mark.redis
@pytest.mark.asyncio
async def test_sync_publishes_arrive_in_order_through_one_publishing_loop() -> None:
    # given a live-feed socket of this process subscribed through the Redis layer
    layer = get_channel_layer()
    hub = FanoutHub(layer)
    socket = Socket()
    group = f"org.publish-test-{os.getpid()}"
    sub = await hub.subscribe(group, socket.send)

    # when a sync caller (a task's thread) broadcasts 20 events one after another
    def publish_all() -> list[Any]:
        loops = []
        for n in range(20):
            events.group_send_now([group], {"type": "stream.event", "event": "reply", "data": {"n": n}})
            loops.append(events._publisher_loop())
        return loops

    loops = await sync_to_async(publish_all, thread_sensitive=False)()
    deadline = asyncio.get_running_loop().time() + 5
    while len(socket.frames) < 20 and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)

    # then every event arrived once, in order, all sent from the same long-lived loop
    assert [f["data"]["n"] for f in socket.frames] == list(range(20))
    assert len({id(loop) for loop in loops}) == 1
    assert loops[0].is_running() and loops[0] is not asyncio.get_running_loop()
    await sub.close()


def test_a_forked_child_gets_its_own_publishing_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    # Celery's prefork workers fork after import: a loop thread of the parent does not exist there.
    parent = events._publisher_loop()
    monkeypatch.setattr(events.os, "getpid", lambda: -1)
    child = events._publisher_loop()
    assert child is not parent and child.is_running()
    monkeypatch.undo()
    child.call_soon_threadsafe(child.stop)
