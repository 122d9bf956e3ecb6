"""The outbox gives up after its bounded tries: the row is dead, the payment falls back or fails."""

from __future__ import annotations

from unittest import mock

import pytest
from django.utils import timezone

from apps.payments import services
from apps.payments.choices import PaymentStatus
from apps.payments.models import OutboxMessage
from apps.payments.rails.base import RailError, RailTransientError
from apps.payments.rails.pix.adapter import PixAdapter
from tests.payments.conftest import dead_and_failed, make_request

pytestmark = pytest.mark.django_db


def _due(message: OutboxMessage) -> None:
    """Skip the backoff wait, as the drain would once it has passed."""
    OutboxMessage.objects.filter(pk=message.pk).update(available_at=timezone.now())


@pytest.mark.parametrize(
    "error",
    [RailTransientError("gateway timeout"), ValueError("bug in the adapter")],
    ids=lambda e: type(e).__name__,
)
def test_retryable_errors_end_in_a_dead_row_and_the_payment_falls_back(
    rails, organization, user, compliance, settings, monkeypatch, error
):
    # given at most 2 retries and a PIX provider that keeps failing in a retryable way
    settings.PAYMENTS_MAX_TRANSIENT_RETRIES = 2
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    message = OutboxMessage.objects.get(payment=payment)
    monkeypatch.setattr(PixAdapter, "initiate", mock.Mock(side_effect=error))
    # when the worker tries three times
    outcomes = []
    for _ in range(3):
        _due(message)
        outcomes.append(services.outbox_message_process(message_id=message.pk))
    # then the row is dead after the bound and the payment moved to the next rail
    assert outcomes == ["retry_scheduled", "retry_scheduled", "dead"]
    message.refresh_from_db()
    assert message.status == "dead" and message.tries == 3 and str(error) in message.last_error
    assert message.done_at is not None
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED and payment.selected_rail != "pix"
    first, second = payment.rail_attempts.order_by("number")
    assert (first.rail, first.status) == ("pix", "failed") and second.status == "pending"
    fallback = payment.events.get(from_status="approved", to_status="approved")
    assert "gave up after 3 tries" in fallback.data["reason"]
    # and the drain leaves the dead row alone
    assert OutboxMessage.objects.filter(payment=payment, status="pending").count() == 1


def test_a_permanent_rail_error_is_an_answer_not_a_dead_row(
    rails, organization, user, compliance, monkeypatch
):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    message = OutboxMessage.objects.get(payment=payment)
    monkeypatch.setattr(PixAdapter, "initiate", mock.Mock(side_effect=RailError("account closed")))
    assert services.outbox_message_process(message_id=message.pk) == "fallback"
    message.refresh_from_db()
    assert message.status == "done" and message.tries == 1 and message.last_error == "account closed"


def test_retrying_a_dead_initiation_retries_its_failed_payment(
    rails, organization, user, compliance, settings
):
    # given
    payment, message = dead_and_failed(organization, user, settings)
    # when staff retry the dead row
    assert services.outbox_message_retry(message_id=message.pk, actor=user) == "payment_retried"
    # then the payment is approved again with a new attempt and a new outbox row
    payment.refresh_from_db()
    message.refresh_from_db()
    assert payment.status == PaymentStatus.APPROVED and payment.failure_reason == ""
    assert message.status == "done" and message.last_error.startswith("retried: ")
    assert payment.rail_attempts.count() == 2
    assert OutboxMessage.objects.filter(payment=payment, status="pending").count() == 1
    assert payment.events.last().actor == f"user:{user.pk}"


def test_only_dead_rows_whose_payment_can_go_again_are_retried(
    rails, organization, user, compliance, settings
):
    pending = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    row = OutboxMessage.objects.get(payment=pending)
    with pytest.raises(services.OutboxNotRetryable) as err:
        services.outbox_message_retry(message_id=row.pk, actor=user)
    assert err.value.status_code == 409 and err.value.extra == {"status": "pending"}
    # a dead initiation whose payment already moved to another rail has nothing to retry
    settings.PAYMENTS_MAX_TRANSIENT_RETRIES = 0
    with mock.patch.object(PixAdapter, "initiate", side_effect=RailTransientError("timeout")):
        assert services.outbox_message_process(message_id=row.pk) == "dead"
    with pytest.raises(services.OutboxNotRetryable, match="moved on"):
        services.outbox_message_retry(message_id=row.pk, actor=user)
