"""The per-process fan-out hub (apps/core/fanout.py) on the in-memory and the Redis layers:
each local subscriber gets each event of its group exactly once and in order, nothing of
another group, the process joins a group once whatever the number of sockets, and a socket
that stops reading holds nobody up."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from channels.layers import InMemoryChannelLayer
from django.conf import settings

from apps.core import fanout
from apps.core.fanout import FanoutHub

pytestmark = pytest.mark.asyncio


def _redis_pubsub() -> Any:
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return RedisPubSubChannelLayer(hosts=[settings.REDIS_URL], prefix=f"fanout-test-{uuid.uuid4().hex[:8]}")


def _redis_core() -> Any:
    from channels_redis.core import RedisChannelLayer

    return RedisChannelLayer(hosts=[settings.REDIS_URL], prefix=f"fanout-test-{uuid.uuid4().hex[:8]}")


@pytest.fixture(
    params=[
        pytest.param("memory"),
        pytest.param("redis-pubsub", marks=pytest.mark.redis),
        pytest.param("redis-core", marks=pytest.mark.redis),
    ]
)
async def layer(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    made = {"memory": InMemoryChannelLayer, "redis-pubsub": _redis_pubsub, "redis-core": _redis_core}
    instance = made[request.param]()
    yield instance
    await instance.flush()


class Socket:
    """Records what the hub sends, as an ASGI server's ``send`` would receive it."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None  # when set up and cleared, the socket "stops reading"

    async def send(self, message: dict[str, Any]) -> None:
        if self.gate is not None:
            await self.gate.wait()
        assert message["type"] == "websocket.send"
        self.frames.append(json.loads(message["text"]))

    def events(self) -> list[Any]:
        return [f["data"].get("n") for f in self.frames if f["type"] != "subscribed"]


def event(n: int, kind: str = "payment_completed") -> dict[str, Any]:
    return {"type": "stream.event", "event": kind, "data": {"n": n, "amount": "30.00", "currency": "BRL"}}


async def settle(condition: Any, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.01)


async def test_every_local_subscriber_gets_each_event_exactly_once_in_order(layer: Any) -> None:
    # given 40 sockets of one organisation on one hub
    hub = FanoutHub(layer)
    sockets = [Socket() for _ in range(40)]
    subs = [await hub.subscribe("org.a", s.send) for s in sockets]
    # when three events are published to the group
    for n in range(3):
        await layer.group_send("org.a", event(n))
    await settle(lambda: all(len(s.frames) == 3 for s in sockets))
    await asyncio.sleep(0.1)  # a duplicate would have arrived by now
    # then each socket received each event once, in publishing order, as the client frame
    assert all(s.events() == [0, 1, 2] for s in sockets)
    assert sockets[0].frames[0] == {
        "type": "payment_completed",
        "data": {"n": 0, "amount": "30.00", "currency": "BRL"},
    }
    for sub in subs:
        await sub.close()


async def test_a_subscriber_of_org_a_never_receives_org_b_events(layer: Any) -> None:
    hub = FanoutHub(layer)
    a, b = Socket(), Socket()
    sub_a = await hub.subscribe("org.a", a.send)
    sub_b = await hub.subscribe("org.b", b.send)
    await layer.group_send("org.b", event(1))
    await layer.group_send("org.a", event(2))
    await layer.group_send("org.b", event(3))
    await settle(lambda: len(a.frames) == 1 and len(b.frames) == 2)
    await asyncio.sleep(0.1)
    assert a.events() == [2]
    assert b.events() == [1, 3]
    await sub_a.close()
    await sub_b.close()


async def test_conversation_scoped_subscribers_only_get_their_conversation(layer: Any) -> None:
    hub = FanoutHub(layer)
    mine, sibling = Socket(), Socket()
    s1 = await hub.subscribe("conversation.1", mine.send)
    s2 = await hub.subscribe("conversation.2", sibling.send)
    await layer.group_send("conversation.2", event(20, "intent_detected"))
    await layer.group_send("conversation.1", event(10, "intent_detected"))
    await settle(lambda: mine.frames and sibling.frames)
    await asyncio.sleep(0.1)
    assert mine.frames == [
        {"type": "intent_detected", "data": {"n": 10, "amount": "30.00", "currency": "BRL"}}
    ]
    assert sibling.events() == [20]
    await s1.close()
    await s2.close()


async def test_the_first_frame_precedes_every_event_and_nothing_published_after_subscribe_is_lost(
    layer: Any,
) -> None:
    hub = FanoutHub(layer)
    socket = Socket()
    hello = {"type": "websocket.send", "text": json.dumps({"type": "subscribed", "data": {}})}
    sub = await hub.subscribe("org.a", socket.send, first=hello)
    await layer.group_send("org.a", event(1))
    await settle(lambda: len(socket.frames) == 2)
    assert [f["type"] for f in socket.frames] == ["subscribed", "payment_completed"]
    await sub.close()


async def test_the_process_joins_a_group_once_and_leaves_it_with_its_last_socket() -> None:
    # given an in-memory layer (its group table is visible)
    layer = InMemoryChannelLayer()
    hub = FanoutHub(layer)
    subs = [await hub.subscribe("org.a", Socket().send) for _ in range(25)]
    # then the layer sees one member for 25 sockets
    assert len(layer.groups["org.a"]) == 1
    # when all but one leave, the process stays in the group; with the last one it leaves
    for sub in subs[:-1]:
        await sub.close()
    assert len(layer.groups["org.a"]) == 1
    await subs[-1].close()
    assert "org.a" not in layer.groups
    assert hub.groups == {}


async def test_a_socket_that_stops_reading_holds_nobody_up_and_catches_up_in_order() -> None:
    layer = InMemoryChannelLayer()
    hub = FanoutHub(layer)
    stuck, fine = Socket(), Socket()
    sub_stuck = await hub.subscribe("org.a", stuck.send)
    sub_fine = await hub.subscribe("org.a", fine.send)
    stuck.gate = asyncio.Event()  # its send now waits, like a full socket buffer
    for n in range(3):
        await layer.group_send("org.a", event(n))
    await settle(lambda: len(fine.frames) == 3)
    assert fine.events() == [0, 1, 2]
    assert stuck.frames == []
    # when the socket drains, its frames arrive, in order
    stuck.gate.set()
    await settle(lambda: len(stuck.frames) == 3)
    assert stuck.events() == [0, 1, 2]
    await sub_stuck.close()
    await sub_fine.close()


async def test_a_socket_too_far_behind_is_dropped_and_told(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fanout, "BACKLOG_LIMIT", 2)
    layer = InMemoryChannelLayer()
    hub = FanoutHub(layer)
    stuck, fine = Socket(), Socket()
    dropped: list[bool] = []
    await hub.subscribe("org.a", stuck.send, on_overflow=lambda: dropped.append(True))
    sub_fine = await hub.subscribe("org.a", fine.send)
    stuck.gate = asyncio.Event()
    for n in range(5):  # one send in flight + 2 queued, the fourth overflows
        await layer.group_send("org.a", event(n))
    await settle(lambda: len(fine.frames) == 5 and dropped)
    assert dropped == [True]
    assert fine.events() == [0, 1, 2, 3, 4]
    assert len(hub.groups["org.a"].subscriptions) == 1
    await sub_fine.close()


async def test_only_the_events_asked_for_are_delivered(layer: Any) -> None:
    hub = FanoutHub(layer)
    socket = Socket()
    sub = await hub.subscribe("conversation.1", socket.send, events={"reply"})
    await layer.group_send("conversation.1", event(1, "intent_detected"))
    await layer.group_send("conversation.1", event(2, "reply"))
    await settle(lambda: socket.frames)
    await asyncio.sleep(0.1)
    assert [f["type"] for f in socket.frames] == ["reply"]
    await sub.close()


async def test_each_event_is_encoded_once_per_process_not_per_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    layer = InMemoryChannelLayer()
    hub = FanoutHub(layer)
    calls: list[int] = []
    real = fanout.stream_frame_text

    def counting(message: dict[str, Any]) -> str:
        calls.append(1)
        return real(message)

    monkeypatch.setattr(fanout, "stream_frame_text", counting)
    sockets = [Socket() for _ in range(30)]
    subs = [await hub.subscribe("org.a", s.send) for s in sockets]
    await layer.group_send("org.a", event(1))
    await settle(lambda: all(s.frames for s in sockets))
    assert len(calls) == 1
    for sub in subs:
        await sub.close()
