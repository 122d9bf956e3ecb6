"""Refunds: requested by a person, sent once through the outbox, confirmed by the rail, broadcast."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
import time_machine
from django.utils import timezone

from apps.compliance.models import AuditEntry
from apps.payments import services
from apps.payments.choices import PaymentStatus
from apps.payments.models import OutboxMessage, PaymentRefund
from apps.payments.rails.base import RailError, RailTransientError
from apps.payments.rails.pix.adapter import PixAdapter
from apps.payments.rails.sandbox import SandboxClient
from tests.factories import ConversationFactory, MembershipFactory, UserFactory
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db

USDC_ONLY = {
    "currency": "USD",
    "payer_country": "US",
    "payee_country": "US",
    "payee_identifiers": {"eth_address": "0x52908400098527886E0F7030069857D2E4169EE7"},
    "kyc_tier": "full",
    "preferred_rail": "usdc",
}


def settled(organization, user, capture, **request):
    """A payment run through the sandbox until it succeeded."""
    with capture(execute=True):
        payment = services.payment_orchestrate(
            organization=organization, actor=user, request=make_request(**request)
        )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    return payment


def test_a_settled_payment_is_refunded_through_the_outbox_and_broadcast(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    # given a PIX payment that settled, in a conversation
    conversation = ConversationFactory(organization=organization)
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(
            organization=organization, actor=user, request=make_request(), conversation=conversation
        )
    payment.refresh_from_db()
    published.clear()
    # when the owner refunds it
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.payment_refund(payment=payment, actor=user, reason="bread was stale")
        assert published == [] and refund.status == "requested"  # nothing happens before commit
    # then the rail was asked once, confirmed, and the payment is refunded
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == "succeeded" and refund.external_id.startswith("re_")
    assert refund.amount == payment.amount and refund.rail == "pix"
    assert refund.requested_by == f"user:{user.pk}" and refund.completed_at is not None
    assert payment.status == PaymentStatus.REFUNDED
    last = payment.events.last()
    assert (last.from_status, last.to_status) == ("succeeded", "refunded")
    assert last.data["refund_id"] == str(refund.pk) and "bread was stale" in last.reason
    assert OutboxMessage.objects.get(payment=payment, kind="refund").status == "done"
    provider = SandboxClient("pix").get_payment(payment.external_payment_id)
    assert provider["status"] == "refunded"
    # the streams hear payment_refunded, after commit
    assert [m["event"] for _, m in published] == ["payment_refunded"]
    groups, message = published[0]
    assert groups == [f"org.{organization.pk}", f"conversation.{conversation.pk}"]
    assert message["data"]["status"] == "refunded" and message["data"]["refund_id"] == str(refund.pk)
    # and the manual action is in the audit log
    entry = AuditEntry.objects.get(action="payments.payment_refund_requested")
    assert entry.target_id == str(payment.pk) and entry.after["refund"] == str(refund.pk)


def test_the_payment_stays_succeeded_until_the_rail_confirms_the_refund(
    rails, organization, user, compliance, published, settings, django_capture_on_commit_callbacks
):
    # given a settled payment and a provider that takes a minute to complete refunds
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    settings.PAYMENTS_SANDBOX_LATENCY_SECONDS = "60"
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        refund = services.payment_refund(payment=payment, actor=user, reason="duplicate")
    # then the refund is pending at the rail and the payment is still settled
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == "pending" and payment.status == PaymentStatus.SUCCEEDED
    assert services.payment_refunds_poll() == {"polled": 1, "settled": 0}
    assert published == []
    # when the provider has completed it, the polling backstop sees it
    with (
        time_machine.travel(timezone.now() + timedelta(seconds=61)),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert services.payment_refunds_poll() == {"polled": 1, "settled": 1}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.REFUNDED and payment.events.last().actor == "poll"
    assert [m["event"] for _, m in published] == ["payment_refunded"]


def test_usdc_payments_cannot_be_refunded(
    rails, organization, user, compliance, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks, **USDC_ONLY)
    assert payment.selected_rail == "usdc"
    with pytest.raises(services.RefundNotSupported) as err:
        services.payment_refund(payment=payment, actor=user, reason="please")
    assert err.value.status_code == 422 and err.value.code == "refund_not_supported"
    assert err.value.extra == {"rail": "usdc"}
    assert not PaymentRefund.objects.exists() and not OutboxMessage.objects.filter(kind="refund").exists()


def test_only_a_settled_payment_is_refunded_once(
    rails, organization, user, compliance, django_capture_on_commit_callbacks
):
    approved = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    with pytest.raises(services.PaymentNotRefundable) as err:
        services.payment_refund(payment=approved, actor=user, reason="x")
    assert err.value.status_code == 409 and err.value.extra == {"status": "approved"}
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    services.payment_refund(payment=payment, actor=user, reason="first")  # not confirmed yet
    with pytest.raises(services.RefundInProgress):
        services.payment_refund(payment=payment, actor=user, reason="second")
    assert PaymentRefund.objects.filter(payment=payment).count() == 1


def test_a_refused_refund_fails_visibly_and_may_be_asked_again(
    rails, organization, user, compliance, published, monkeypatch, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    published.clear()
    # when the rail refuses the refund for good
    refused = mock.patch.object(PixAdapter, "refund", side_effect=RailError("refund window closed"))
    with refused, django_capture_on_commit_callbacks(execute=True):
        refund = services.payment_refund(payment=payment, actor=user, reason="late")
    # then the refund failed, the payment is still settled, and the streams are told
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == "failed" and refund.failure_reason == "refund window closed"
    assert payment.status == PaymentStatus.SUCCEEDED
    assert [(m["event"], m["data"]["reason"]) for _, m in published] == [
        ("payment_refund_failed", "refund window closed")
    ]
    # and a new refund may be requested
    assert services.payment_refund(payment=payment, actor=user, reason="again").status == "requested"


def test_a_dead_refund_is_requeued_with_the_same_idempotency_key(
    rails, organization, user, compliance, settings, django_capture_on_commit_callbacks
):
    # given a refund whose sends all timed out
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    settings.PAYMENTS_MAX_TRANSIENT_RETRIES = 0
    refund = services.payment_refund(payment=payment, actor=user, reason="x")
    message = OutboxMessage.objects.get(kind="refund")
    with mock.patch.object(PixAdapter, "refund", side_effect=RailTransientError("timeout")) as sent:
        assert services.outbox_message_process(message_id=message.pk) == "dead"
    refund.refresh_from_db()
    assert refund.status == "requested" and sent.call_args.kwargs["idempotency_key"] == str(refund.pk)
    # when staff retry the dead row and the rail answers
    assert services.outbox_message_retry(message_id=message.pk, actor=user) == "requeued"
    message.refresh_from_db()
    assert message.status == "pending" and message.tries == 0
    assert services.outbox_message_process(message_id=message.pk) == "refund_pending"
    # then the same refund went out (the provider sees the same key twice as one refund)
    refund.refresh_from_db()
    assert refund.status == "pending"
    again = SandboxClient("pix").create_refund(
        idempotency_key=str(refund.pk),
        external_id=payment.external_payment_id,
        amount=Decimal("100"),
        currency="BRL",
        latency_seconds=0,
    )
    assert again["id"] == refund.external_id
    assert AuditEntry.objects.filter(action="payments.outbox_message_retried").count() == 1


# --- API --------------------------------------------------------------------------------------


def test_refund_endpoint_accepts_replays_and_refuses(
    rails, auth_client, organization, user, compliance, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    url = f"/api/v1/payments/{payment.pk}/refund"
    # when
    with django_capture_on_commit_callbacks(execute=True):
        first = auth_client.post(url, {"reason": "returned"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    again = auth_client.post(url, {"reason": "returned"}, format="json", HTTP_IDEMPOTENCY_KEY="r1")
    # then 202 with the refund queued; the same key replays, one refund exists
    assert first.status_code == 202, first.json()
    body = first.json()
    assert body["status"] == "succeeded"  # the rail confirms after the answer
    assert [(r["status"], r["reason"], r["amount"]) for r in body["refunds"]] == [
        ("requested", "returned", "100.0000")
    ]
    assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == body and PaymentRefund.objects.count() == 1
    detail = auth_client.get(f"/api/v1/payments/{payment.pk}").json()
    assert detail["status"] == "refunded" and detail["refunds"][0]["status"] == "succeeded"
    # a second refund of a refunded payment is a conflict
    conflict = auth_client.post(url, {}, format="json")
    assert conflict.status_code == 409 and conflict.json()["code"] == "payment_not_refundable"


def test_refund_endpoint_follows_the_paying_roles_and_scopes(
    rails, auth_client, organization, user, compliance, django_capture_on_commit_callbacks
):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    from apps.core.services import api_key_create

    payment = settled(organization, user, django_capture_on_commit_callbacks)
    url = f"/api/v1/payments/{payment.pk}/refund"
    reviewer = UserFactory()
    MembershipFactory(organization=organization, user=reviewer, role="compliance_reviewer")
    as_reviewer = APIClient()
    as_reviewer.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(reviewer)}")
    assert as_reviewer.post(url, {}, format="json").status_code == 403
    _, raw = api_key_create(organization=organization, name="ro", scopes=["read"])
    reader = APIClient()
    reader.credentials(HTTP_X_API_KEY=raw)
    assert reader.post(url, {}, format="json").status_code == 403
    assert not PaymentRefund.objects.exists()
    _, raw = api_key_create(organization=organization, name="rw", scopes=["payments:write"])
    writer = APIClient()
    writer.credentials(HTTP_X_API_KEY=raw)
    assert writer.post(url, {}, format="json").status_code == 202


def test_refund_endpoint_says_which_rails_cannot_refund(
    rails, auth_client, organization, user, compliance, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks, **USDC_ONLY)
    resp = auth_client.post(f"/api/v1/payments/{payment.pk}/refund", {}, format="json")
    assert resp.status_code == 422 and resp.json()["code"] == "refund_not_supported"
