"""Cross-process delivery of stream events when the channel layer is in memory.

With channels-redis every process shares the layer and events go straight to
``group_send``. In the embedded setup (InMemoryChannelLayer) only the ASGI web
process holds the groups, so other processes (Celery workers, management
commands) store the event in ``RelayedEvent`` and an asyncio task in the web
process forwards new rows every ``RELAY_POLL_SECONDS``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = structlog.get_logger(__name__)

RELAY_POLL_SECONDS = 0.3
IS_WEB_PROCESS = False  # set by agentpay.asgi
_poller: asyncio.Task[None] | None = None


def layer_is_process_local() -> bool:
    return isinstance(get_channel_layer(), InMemoryChannelLayer)


def relay_deliver(groups: list[str], message: dict[str, Any]) -> None:
    from apps.core.events import group_send_now

    if IS_WEB_PROCESS or not layer_is_process_local():
        group_send_now(groups, message)
        return
    from apps.core.models import RelayedEvent

    RelayedEvent.objects.create(groups=groups, message=message)


@database_sync_to_async
def _fetch(after_id: int) -> list[tuple[int, list[str], dict[str, Any]]]:
    from datetime import timedelta

    from django.utils import timezone

    from apps.core.models import RelayedEvent

    rows = list(
        RelayedEvent.objects.filter(id__gt=after_id)
        .order_by("id")
        .values_list("id", "groups", "message")[:500]
    )
    RelayedEvent.objects.filter(created_at__lt=timezone.now() - timedelta(minutes=10)).delete()
    return rows


@database_sync_to_async
def _latest_id() -> int:
    from apps.core.models import RelayedEvent

    return RelayedEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


async def _poll_forever() -> None:
    layer = get_channel_layer()
    last = await _latest_id()
    while True:
        try:
            for row_id, groups, message in await _fetch(last):
                last = row_id
                for group in groups:
                    await layer.group_send(group, message)
        except Exception:
            logger.exception("relay_poll_failed")
        await asyncio.sleep(RELAY_POLL_SECONDS)


def relay_poller_ensure() -> None:
    """Start the relay task on the running loop (idempotent); consumers call it on connect."""
    global _poller
    if not layer_is_process_local():
        return
    if _poller is None or _poller.done():
        _poller = asyncio.get_running_loop().create_task(_poll_forever())
