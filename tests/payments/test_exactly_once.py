"""Exactly-once initiation when a real Celery worker dies between the provider call and the commit."""

from __future__ import annotations

import pytest

from apps.payments.choices import PaymentStatus
from apps.payments.models import OutboxMessage, PaymentAttempt
from apps.payments.rails.pix.client import PixSandboxClient
from tests.payments.conftest import make_request


@pytest.fixture
def _failpoints_env(monkeypatch):
    # inherited by the worker process that celery_worker_process starts next
    monkeypatch.setenv("PAYMENTS_FAILPOINTS", "1")
    monkeypatch.setenv("PAYMENTS_SANDBOX_LATENCY_SECONDS", "600")


@pytest.mark.celery_worker
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_worker_killed_between_initiate_and_commit_initiates_once(
    rails, organization, user, monkeypatch, _failpoints_env, celery_worker_process
):
    from django.core.cache import cache

    from apps.payments import services
    from apps.payments.tasks import outbox_process

    # given an approved payment whose outbox row is pending (kicks to the default queue are muted here)
    monkeypatch.setattr(services, "_outbox_kick", lambda message_id, delay=0.0: None)
    monkeypatch.setattr("apps.payments.rails.sandbox.sandbox_settlement_schedule", lambda **kw: None)
    real = services._optional
    monkeypatch.setattr(
        services,
        "_optional",
        lambda m, n: (
            (lambda *, payment, actor=None: services.FallbackComplianceDecision())
            if n == "payment_compliance_decide"
            else (None if n == "conversation_payment_notify" else real(m, n))
        ),
    )
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    assert payment.status == PaymentStatus.APPROVED
    message = OutboxMessage.objects.get(payment=payment)
    provider = PixSandboxClient("pix")
    assert provider.created_count() == 0

    # when the worker initiates on the rail and then dies before its transaction commits
    cache.set("payments:failpoint:after_initiate", str(payment.pk), timeout=120)
    outbox_process.apply_async(args=(message.pk,), queue=celery_worker_process.queue)
    assert celery_worker_process.wait(timeout=60) == 17

    # then the provider has the payment, our side rolled back and still owes the initiation
    assert provider.created_count() == 1
    message.refresh_from_db()
    payment.refresh_from_db()
    assert message.status == "pending" and payment.status == PaymentStatus.APPROVED
    assert PaymentAttempt.objects.get(payment=payment).status == "pending"

    # when the outbox backstop runs again (the drain beat task)
    assert services.outbox_drain() == 1

    # then it is initiated exactly once: same provider payment, one attempt, no second provider call
    payment.refresh_from_db()
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert provider.created_count() == 1
    assert payment.status == PaymentStatus.INITIATED
    assert attempt.status == "initiated" and attempt.external_id == payment.external_payment_id
    assert provider.get_payment(attempt.external_id)["idempotency_key"] == str(attempt.pk)
    assert payment.events.filter(to_status=PaymentStatus.INITIATED).count() == 1
    assert services.outbox_drain() == 0


@pytest.mark.celery_worker
@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_real_worker_initiates_from_the_outbox(rails, organization, user, monkeypatch, celery_worker_process):
    import time

    from apps.payments import services
    from apps.payments.tasks import outbox_process

    monkeypatch.setattr(services, "_outbox_kick", lambda message_id, delay=0.0: None)
    real = services._optional
    monkeypatch.setattr(
        services,
        "_optional",
        lambda m, n: (
            (lambda *, payment, actor=None: services.FallbackComplianceDecision())
            if n == "payment_compliance_decide"
            else (None if n == "conversation_payment_notify" else real(m, n))
        ),
    )
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    message = OutboxMessage.objects.get(payment=payment)
    result = outbox_process.apply_async(args=(message.pk,), queue=celery_worker_process.queue)
    assert result.get(timeout=60) == "initiated"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        payment.refresh_from_db()
        if payment.status != PaymentStatus.APPROVED:
            break
        time.sleep(0.2)
    assert payment.status in (PaymentStatus.INITIATED, PaymentStatus.SUCCEEDED)
    assert payment.metadata["pix"]["emv"].startswith("000201")
