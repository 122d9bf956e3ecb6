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


# --- partial refunds -------------------------------------------------------------------------


def test_partial_refunds_keep_the_payment_settled_until_all_of_it_is_refunded(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    # given a settled payment of 100.00 BRL
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    published.clear()
    with mock.patch.object(PixAdapter, "refund", autospec=True, side_effect=PixAdapter.refund) as rail:
        # when 40.00 is refunded
        with django_capture_on_commit_callbacks(execute=True):
            first = services.payment_refund(
                payment=payment, actor=user, reason="one item returned", amount=Decimal("40.00")
            )
        # then the rail was asked for 40.00 and the payment is still settled, with 60.00 left
        assert rail.call_args.kwargs["amount"] == Decimal("40.00")
        first.refresh_from_db()
        payment.refresh_from_db()
        assert first.status == "succeeded" and first.amount.amount == Decimal("40.00")
        assert payment.status == PaymentStatus.SUCCEEDED
        assert services.refunded_total(payment) == Decimal("40.00")
        assert [m["event"] for _, m in published] == ["payment_partially_refunded"]
        data = published[0][1]["data"]
        assert (data["refund_amount"], data["refunded"], data["refundable"]) == (
            "40.0000",
            "40.0000",
            "60.0000",
        )
        assert data["amount"] == "100.0000" and data["status"] == "succeeded"
        assert SandboxClient("pix").get_payment(payment.external_payment_id)["status"] == "partially_refunded"
        # when the rest is refunded (no amount: all that is left)
        published.clear()
        with django_capture_on_commit_callbacks(execute=True):
            rest = services.payment_refund(payment=payment, actor=user, reason="order cancelled")
        assert rail.call_args.kwargs["amount"] == Decimal("60.0000")
    # then the payment is refunded, through its transition, and told so
    rest.refresh_from_db()
    payment.refresh_from_db()
    assert rest.amount.amount == Decimal("60.00") and payment.status == PaymentStatus.REFUNDED
    last = payment.events.last()
    assert (last.from_status, last.to_status) == ("succeeded", "refunded")
    assert last.data["refund_id"] == str(rest.pk)
    assert [m["event"] for _, m in published] == ["payment_refunded"]
    assert SandboxClient("pix").get_payment(payment.external_payment_id)["status"] == "refunded"


@pytest.mark.parametrize("amount", ["0", "-1.00", "100.01", "10.005"])
def test_a_refund_amount_must_be_positive_in_minor_units_and_at_most_what_is_left(
    rails, organization, user, compliance, django_capture_on_commit_callbacks, amount
):
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    with pytest.raises(services.RefundAmountInvalid) as err:
        services.payment_refund(payment=payment, actor=user, reason="x", amount=Decimal(amount))
    assert err.value.status_code == 422 and err.value.code == "refund_amount_invalid"
    assert err.value.extra["refundable"] == "100.00" and err.value.extra["currency"] == "BRL"
    assert not PaymentRefund.objects.exists() and not OutboxMessage.objects.filter(kind="refund").exists()


def test_what_is_left_to_refund_counts_only_confirmed_refunds(
    rails, organization, user, compliance, settings, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_refund(payment=payment, actor=user, reason="a", amount=Decimal("70.00"))
    # more than the 30.00 left is refused; a failed refund does not count
    with pytest.raises(services.RefundAmountInvalid) as err:
        services.payment_refund(payment=payment, actor=user, reason="b", amount=Decimal("30.01"))
    assert err.value.extra["refundable"] == "30.00"
    with (
        mock.patch.object(PixAdapter, "refund", side_effect=RailError("insufficient balance")),
        django_capture_on_commit_callbacks(execute=True),
    ):
        failed = services.payment_refund(payment=payment, actor=user, reason="c", amount=Decimal("30.00"))
    failed.refresh_from_db()
    assert failed.status == "failed" and services.refunded_total(payment) == Decimal("70.00")
    # and one refund is in flight at a time
    settings.PAYMENTS_SANDBOX_LATENCY_SECONDS = "60"
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_refund(payment=payment, actor=user, reason="d", amount=Decimal("10.00"))
    with pytest.raises(services.RefundInProgress):
        services.payment_refund(payment=payment, actor=user, reason="e", amount=Decimal("10.00"))


def test_the_sandbox_provider_refuses_refunds_beyond_the_payment(
    rails, organization, user, compliance, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    client = SandboxClient("pix")
    kwargs = {"external_id": payment.external_payment_id, "currency": "BRL", "latency_seconds": 0}
    client.create_refund(idempotency_key="k1", amount=Decimal("80.00"), **kwargs)
    with pytest.raises(RailError, match="exceeds"):
        client.create_refund(idempotency_key="k2", amount=Decimal("20.01"), **kwargs)
    # the same key answers the same refund instead of refunding twice
    again = client.create_refund(idempotency_key="k1", amount=Decimal("80.00"), **kwargs)
    assert client.get_refund(again["id"])["status"] == "succeeded"
    assert client.get_payment(payment.external_payment_id)["amount_refunded"] == "80.00"


def test_refund_endpoint_takes_an_amount(
    rails, auth_client, organization, user, compliance, django_capture_on_commit_callbacks
):
    payment = settled(organization, user, django_capture_on_commit_callbacks)
    url = f"/api/v1/payments/{payment.pk}/refund"
    with django_capture_on_commit_callbacks(execute=True):
        partial = auth_client.post(url, {"reason": "damaged", "amount": "25.50"}, format="json")
    assert partial.status_code == 202, partial.json()
    assert [r["amount"] for r in partial.json()["refunds"]] == ["25.5000"]
    too_much = auth_client.post(url, {"amount": "75.00"}, format="json")
    assert too_much.status_code == 422
    assert too_much.json()["code"] == "refund_amount_invalid"
    not_a_number = auth_client.post(url, {"amount": "lots"}, format="json")
    assert not_a_number.status_code == 400 and "amount" in not_a_number.json()["errors"]
    detail = auth_client.get(f"/api/v1/payments/{payment.pk}").json()
    assert detail["status"] == "succeeded" and detail["refunds"][0]["status"] == "succeeded"
