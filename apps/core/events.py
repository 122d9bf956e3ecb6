"""Real-time events: broadcast to WebSocket groups after the transaction commits.

Services call ``event_publish`` inside their transaction; the broadcast happens
only if and when it commits, through the channel layer (Redis in production).
Group names: ``org.<organization_id>`` for the organisation-wide feed and
``conversation.<conversation_id>`` for one conversation's stream.
"""

from __future__ import annotations

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
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # a broadcast failure must never break the caller
            logger.exception("event_broadcast_failed", group=group)
