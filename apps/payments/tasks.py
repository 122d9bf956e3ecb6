"""Celery tasks: thin wrappers that take ids and call a service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from apps.payments import services


@shared_task(name="payments.outbox_process", acks_late=True)
def outbox_process(message_id: int) -> str:
    return services.outbox_message_process(message_id=message_id)


@shared_task(name="payments.outbox_drain")
def outbox_drain() -> int:
    return services.outbox_drain()


@shared_task(name="payments.outbox_drain_kicked")
def outbox_drain_kicked() -> int:
    return services.outbox_drain_kicked()


@shared_task(name="payments.webhook_process", bind=True, max_retries=20)
def webhook_process(self: Any, event_row_id: int) -> str:
    try:
        return services.rail_webhook_process(event_row_id=event_row_id)
    except services.WebhookNotReady as exc:
        raise self.retry(exc=exc, countdown=1 + self.request.retries) from exc


@shared_task(name="payments.sandbox_settle", bind=True, max_retries=30)
def sandbox_settle(self: Any, rail: str, external_id: str) -> str:
    from apps.payments.rails.sandbox import sandbox_settle as settle

    try:
        result = settle(rail=rail, external_id=external_id, force=bool(self.request.is_eager))
    except RuntimeError as exc:  # our endpoint did not accept it: redeliver like providers do
        raise self.retry(exc=exc, countdown=2 ** min(self.request.retries, 6)) from exc
    if result == "not_due":
        raise self.retry(countdown=1)
    return result


@shared_task(name="payments.poll_stale")
def poll_stale() -> dict[str, int]:
    return services.payments_poll_stale()


@shared_task(name="payments.refund_poll", bind=True, max_retries=8)
def refund_poll(self: Any, refund_id: str) -> str:
    status = services.payment_refund_poll(refund_id=refund_id)
    if status == "pending" and not self.request.is_eager:  # eagerly, the beat backstop polls later
        raise self.retry(countdown=min(300, 5 * 2**self.request.retries))
    return status


@shared_task(name="payments.refunds_poll")
def refunds_poll() -> dict[str, int]:
    return services.payment_refunds_poll()


@shared_task(name="payments.rail_health_refresh")
def rail_health_refresh() -> list[dict[str, Any]]:
    from apps.payments.health import rail_health_refresh as refresh

    return refresh()


@shared_task(name="payments.fx_refresh", bind=True, max_retries=3)
def fx_refresh(self: Any) -> str:
    from apps.payments.fx.services import fx_rates_refresh

    try:
        snap = fx_rates_refresh()
    except Exception as exc:  # the ECB is sometimes slow; keep yesterday's rates meanwhile
        raise self.retry(exc=exc, countdown=300) from exc
    return str(snap) if snap is not None else "disabled"


@shared_task(name="payments.idempotency_purge")
def idempotency_purge() -> int:
    from apps.payments.idempotency import idempotency_records_purge

    return idempotency_records_purge()
