"""Celery tasks of the conversations app: thin wrappers that take ids and call a service.

Nothing reads their results (they are sent fire-and-forget by ``services._task_send``, flows and
beat), so none is stored: ``ignore_result=True`` spares the result backend a write per task and
the sender any result bookkeeping. The return values stay for logs and direct calls.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.conversations import conf, services
from apps.conversations.platforms.base import SendError


@shared_task(
    name="conversations.webhook_event_process",
    acks_late=True,
    max_retries=5,
    default_retry_delay=5,
    ignore_result=True,
)
def webhook_event_process_task(webhook_event_id: int) -> str:
    return str(services.webhook_event_process(webhook_event_id=webhook_event_id).status)


@shared_task(name="conversations.webhook_events_drain", acks_late=True, ignore_result=True)
def webhook_events_drain_task() -> int:
    return services.webhook_events_drain()


@shared_task(name="conversations.message_process", acks_late=True, ignore_result=True)
def message_process_task(message_id: str) -> str:
    return str(services.message_process(message_id=message_id).detected_intent)


@shared_task(
    bind=True, name="conversations.outbound_deliver", acks_late=True, max_retries=None, ignore_result=True
)
def outbound_deliver_task(self: Any, outbound_id: str) -> str:
    try:
        return str(services.outbound_message_deliver(outbound_id=outbound_id).status)
    except SendError as exc:
        if not exc.transient:
            return "failed"
        if self.request.retries >= conf.outbound_max_retries():
            services.outbound_message_fail(outbound_id=outbound_id, error=str(exc))
            return "failed"
        # exponential backoff: 2, 4, 8, 16... seconds
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(name="conversations.telegram_callback_answer", ignore_result=True)
def telegram_callback_answer_task(organization_id: str, callback_id: str) -> None:
    services.telegram_callback_answer(organization_id=organization_id, callback_id=callback_id)


@shared_task(name="conversations.flow_timeout", ignore_result=True)
def flow_timeout_task(flow_run_id: str, version: int) -> bool:
    return services.flow_timeout(flow_run_id=flow_run_id, version=version)


@shared_task(name="conversations.flow_timeouts_sweep", ignore_result=True)
def flow_timeouts_sweep_task() -> int:
    return services.flow_timeouts_sweep()


@shared_task(name="conversations.webhook_events_retry_stale", ignore_result=True)
def webhook_events_retry_stale_task() -> int:
    return services.webhook_events_retry_stale()
