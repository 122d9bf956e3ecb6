"""Real-time events: broadcast to WebSocket groups after the transaction commits.

Services call ``event_publish`` inside their transaction; the broadcast happens
only if and when it commits, through the channel layer (Redis in production).
Group names: ``org.<organization_id>`` for the organisation-wide feed and
``conversation.<conversation_id>`` for one conversation's stream.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterable
from typing import Any

import structlog
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

logger = structlog.get_logger(__name__)

EVENT_TYPES = (
    "message_received",
    "intent_detected",
    "confirmation_requested",
    "payment_initiated",
    "payment_completed",
    "payment_failed",
    "payment_fallback",
    "payment_on_hold",
    "payment_blocked",
    "payment_refunded",
    "payment_refund_failed",
    "case_decided",
)


def org_group(organization_id: Any) -> str:
    return f"org.{organization_id}"


def conversation_group(conversation_id: Any) -> str:
    return f"conversation.{conversation_id}"


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _send(groups: list[str], message: dict[str, Any]) -> None:
    from apps.core.relay import relay_deliver

    relay_deliver(groups, message)


def event_publish(*, event_type: str, data: dict[str, Any], groups: Iterable[str]) -> None:
    """Queue a ``{"type": event_type, "data": data}`` broadcast for after commit."""
    message = {"type": "stream.event", "event": event_type, "data": _jsonable(data)}
    group_list = list(groups)
    transaction.on_commit(lambda: _send(group_list, message))


def group_send_now(groups: Iterable[str], message: dict[str, Any]) -> None:
    """Send ``message`` to ``groups`` now, from sync code (a service's on_commit, a task, the relay)."""
    layer = get_channel_layer()
    if layer is None:
        return
    group_list = list(groups)
    from apps.core.relay import layer_is_process_local

    if layer_is_process_local():
        # The in-memory layer's queues belong to the web process's loop: async_to_sync runs the
        # send there when called from its sync thread (the relay covers other processes).
        try:
            async_to_sync(_group_send_all)(layer, group_list, message)
        except Exception:  # a broadcast failure must never break the caller
            logger.exception("event_broadcast_failed", groups=group_list)
        return
    try:
        asyncio.run_coroutine_threadsafe(
            _group_send_all(layer, group_list, message), _publisher_loop()
        ).result(timeout=PUBLISH_TIMEOUT_SECONDS)
    except Exception:
        logger.exception("event_broadcast_failed", groups=group_list)


async def _group_send_all(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    for group in groups:
        try:
            await layer.group_send(group, message)
        except Exception:  # one group failing must not keep the event from the others
            logger.exception("event_broadcast_failed", group=group)


PUBLISH_TIMEOUT_SECONDS = 5.0
_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None
_publisher_lock = threading.Lock()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    """This process's publishing loop, in a daemon thread, started on first use (and again in a
    forked child: Celery's prefork workers).

    ``async_to_sync`` from plain sync code makes a new event loop per call, and channels-redis
    a new Redis connection per loop: every broadcast paid a connection set-up and tear-down
    (about 10 ms of CPU for two groups). One loop keeps the layer's connection open."""
    global _publisher
    current = _publisher
    if current is not None and current[0] == os.getpid():
        return current[1]
    with _publisher_lock:
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="event-publisher", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]
