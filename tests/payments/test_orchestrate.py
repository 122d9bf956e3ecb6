from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest

from apps.payments import services
from apps.payments.choices import PaymentStatus
from apps.payments.models import OrchestrationPayment, OutboxMessage, PaymentAttempt, RailWebhookEvent
from apps.payments.rails.pix.brcode import brcode_verify
from apps.payments.rails.sandbox import SandboxClient
from tests.factories import ConversationFactory
from tests.payments.conftest import make_request, set_rail

pytestmark = pytest.mark.django_db


def _events(payment):
    return [(e.from_status, e.to_status) for e in payment.events.order_by("created_at", "id")]


def test_brl_payment_runs_to_success_through_outbox_and_signed_webhook(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    conversation = ConversationFactory(organization=organization)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(
            organization=organization,
            actor=user,
            request=make_request(amount=Decimal("50.00")),
            conversation=conversation,
        )
    payment.refresh_from_db()
    # then: routed to PIX, screened, initiated once, settled by the sandbox webhook
    assert payment.selected_rail == "pix"
    assert payment.status == PaymentStatus.SUCCEEDED and payment.completed_at is not None
    assert _events(payment) == [
        ("", "created"),
        ("created", "screening"),
        ("screening", "approved"),
        ("approved", "initiated"),
        ("initiated", "succeeded"),
    ]
    assert compliance.calls == [payment.pk]
    assert brcode_verify(payment.metadata["pix"]["emv"])
    assert "540550.00" in payment.metadata["pix"]["emv"]
    assert payment.metadata["compliance"]["decision"] == "approve"
    attempt = PaymentAttempt.objects.get(payment=payment)
    assert attempt.status == "succeeded" and attempt.external_id == payment.external_payment_id
    assert OutboxMessage.objects.get(payment=payment).status == "done"
    assert RailWebhookEvent.objects.get(rail="pix").status == "processed"
    events = [m["event"] for _, m in published]
    assert events == ["payment_initiated", "payment_completed"]
    groups, message = published[-1]
    assert groups == [f"org.{organization.pk}", f"conversation.{conversation.pk}"]
    assert message["data"]["payment_id"] == str(payment.pk) and message["data"]["amount"] == "50.0000"
    assert message["data"]["conversation_id"] == str(conversation.pk) and message["data"]["rail"] == "pix"


def test_conversation_is_notified_after_commit(
    rails, organization, user, compliance, monkeypatch, django_capture_on_commit_callbacks
):
    calls = []
    fake = mock.Mock(
        conversation_payment_notify=lambda *, payment_id, event: calls.append((payment_id, event))
    )
    real = services._optional
    monkeypatch.setattr(
        services,
        "_optional",
        lambda m, n: fake.conversation_payment_notify if n == "conversation_payment_notify" else real(m, n),
    )
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
        assert calls == []  # nothing before commit
    assert calls == [(payment.pk, "payment_initiated"), (payment.pk, "payment_completed")]


def test_review_holds_and_reviewer_approval_initiates(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    compliance.verdict = "review"
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    assert payment.status == PaymentStatus.ON_HOLD
    assert not PaymentAttempt.objects.filter(payment=payment).exists()
    assert [m["event"] for _, m in published] == ["payment_on_hold"]
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_compliance_resolved(
            payment_id=payment.pk, approved=True, actor=user, reason="looks fine"
        )
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED


def test_reviewer_rejection_emits_payment_blocked(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    # given a payment held for review
    compliance.verdict = "review"
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    # when the reviewer rejects it
    with django_capture_on_commit_callbacks(execute=True):
        services.payment_compliance_resolved(payment_id=payment.pk, approved=False, actor=user, reason="no")
    # then
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.BLOCKED
    assert [m["event"] for _, m in published] == ["payment_on_hold", "payment_blocked"]


def test_block_never_initiates_and_emits_payment_blocked(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    # given compliance blocks the payment
    compliance.verdict = "block"
    conversation = ConversationFactory(organization=organization)
    # when
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        payment = services.payment_orchestrate(
            organization=organization, actor=user, request=make_request(), conversation=conversation
        )
        assert published == []  # nothing is broadcast before the commit
    # then nothing reaches a rail and the streams hear payment_blocked, not payment_failed
    assert callbacks
    assert payment.status == PaymentStatus.BLOCKED
    assert not OutboxMessage.objects.filter(payment=payment).exists()
    assert [m["event"] for _, m in published] == ["payment_blocked"]
    groups, message = published[0]
    assert groups == [f"org.{organization.pk}", f"conversation.{conversation.pk}"]
    assert message["data"]["reason"] == "blocked_by_compliance" and message["data"]["status"] == "blocked"
    with pytest.raises(services.InvalidTransition):
        services.payment_compliance_resolved(payment_id=payment.pk, approved=True, actor=user, reason="x")


def test_missing_compliance_uses_the_named_fallback_and_warns(rails, organization, user, monkeypatch):
    real = services._optional
    monkeypatch.setattr(
        services, "_optional", lambda m, n: None if m == "apps.compliance.services" else real(m, n)
    )
    with mock.patch.object(services.logger, "warning") as warning:
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    assert payment.status == PaymentStatus.APPROVED
    assert payment.metadata["compliance"]["reasons"][0]["code"] == "compliance_unavailable"
    warning.assert_called_once()
    assert warning.call_args.args[0] == "compliance_service_missing_fallback_approve"


def test_same_idempotency_key_returns_the_same_payment(rails, organization, user, compliance):
    first = services.payment_orchestrate(
        organization=organization, actor=user, request=make_request(), idempotency_key="k1"
    )
    again = services.payment_orchestrate(
        organization=organization, actor=user, request=make_request(), idempotency_key="k1"
    )
    assert first.pk == again.pk
    assert OrchestrationPayment.objects.filter(organization=organization).count() == 1


def test_rail_outage_falls_back_to_the_next_rail(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    # given PIX's provider is down (the sandbox refuses) but its circuit is still closed
    set_rail("pix", sandbox_available=False)
    # when
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    payment.refresh_from_db()
    # then the initiation failed over to the next eligible rail, which settled it
    attempts = list(payment.rail_attempts.order_by("number").values_list("rail", "status"))
    assert attempts[0] == ("pix", "failed")
    assert attempts[1][0] != "pix" and attempts[1][1] == "succeeded"
    assert payment.status == PaymentStatus.SUCCEEDED and payment.selected_rail == attempts[1][0]
    fallback = payment.events.get(from_status="approved", to_status="approved")
    assert fallback.data["from_rail"] == "pix" and "unavailable" in fallback.data["reason"]
    assert "payment_fallback" in [m["event"] for _, m in published]


def test_health_check_opens_the_circuit_and_routing_avoids_the_rail(rails, organization, user, compliance):
    from apps.payments.health import rail_health_refresh
    from apps.payments.models import PaymentRailStatus

    set_rail("pix", sandbox_available=False)
    rail_health_refresh()
    status = PaymentRailStatus.objects.get(rail_name="pix")
    assert status.is_available is False and status.circuit_state == "open"
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    assert payment.selected_rail != "pix"
    assert payment.cost_breakdown["excluded"]["pix"] == "circuit_open"


def test_failed_settlement_falls_back_then_fails_when_rails_run_out(
    rails, organization, user, compliance, published, django_capture_on_commit_callbacks
):
    # every rail's sandbox rejects the payment
    for name in ("pix", "stripe", "wise"):
        set_rail(name, sandbox_failure_rate=1.0)
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    tried = list(payment.rail_attempts.order_by("number").values_list("rail", flat=True))
    assert tried[0] == "pix" and len(tried) == len(set(tried)) and 1 < len(tried) <= 3
    assert [m["event"] for _, m in published].count("payment_fallback") == len(tried) - 1
    assert [m["event"] for _, m in published][-1] == "payment_failed"


def test_manual_fallback_and_cancel(
    rails, organization, user, compliance, django_capture_on_commit_callbacks
):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    assert payment.status == PaymentStatus.APPROVED
    moved = services.payment_fallback(payment=payment, actor=user, reason="customer asked")
    assert moved.selected_rail != "pix" and moved.status == PaymentStatus.APPROVED
    services.payment_cancel(payment=moved, actor=user, reason="changed my mind")
    moved.refresh_from_db()
    assert moved.status == PaymentStatus.CANCELLED
    assert not OutboxMessage.objects.filter(payment=moved, status="pending").exists()
    with pytest.raises(services.PaymentNotCancellable):
        services.payment_cancel(payment=moved, actor=user, reason="again")


def test_transient_errors_retry_with_backoff(rails, organization, user, compliance, monkeypatch):
    from apps.payments.rails.base import RailTransientError
    from apps.payments.rails.pix.adapter import PixAdapter

    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    message = OutboxMessage.objects.get(payment=payment)
    monkeypatch.setattr(PixAdapter, "initiate", mock.Mock(side_effect=RailTransientError("timeout")))
    assert services.outbox_message_process(message_id=message.pk) == "retry_scheduled"
    message.refresh_from_db()
    assert message.status == "pending" and message.tries == 1 and message.available_at > payment.created_at
    # not due yet: a second worker does nothing
    assert services.outbox_message_process(message_id=message.pk) == "skipped"
    delays = [services._backoff_seconds(n) for n in (1, 2, 3, 4)]
    assert all(lo / 2 <= d <= lo for d, lo in zip(delays, (2, 4, 8, 16), strict=True))


def test_polling_backstop_settles_payments_whose_webhook_never_came(
    rails, organization, user, compliance, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.PAYMENTS_POLL_AFTER_SECONDS = 0
    # the provider never calls back
    monkeypatch.setattr("apps.payments.rails.sandbox.sandbox_settlement_schedule", lambda **kw: None)
    with django_capture_on_commit_callbacks(execute=True):
        payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.INITIATED
    assert services.payments_poll_stale() == {"polled": 1, "settled": 1, "timed_out": 0}
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    assert payment.events.last().actor == "poll"


def test_sandbox_provider_honours_idempotency_keys(rails):
    client = SandboxClient("pix")
    a, created_a = client.create_payment(
        idempotency_key="att-1",
        amount=Decimal(1),
        currency="BRL",
        reference="r",
        latency_seconds=0,
        failure_rate=0,
    )
    b, created_b = client.create_payment(
        idempotency_key="att-1",
        amount=Decimal(1),
        currency="BRL",
        reference="r",
        latency_seconds=0,
        failure_rate=0,
    )
    assert a["id"] == b["id"] and created_a and not created_b and client.created_count() == 1


def test_real_compliance_decision_is_honoured(rails, organization, user, django_capture_on_commit_callbacks):
    """Contract 3 end to end: the compliance app stores a decision; payments maps it to a status."""
    from apps.compliance.services import payment_compliance_decide  # noqa: F401 - fails loudly if it goes away

    payment = services.payment_orchestrate(
        organization=organization, actor=user, request=make_request(amount=Decimal("20.00"))
    )
    decision = payment.metadata["compliance"]
    assert decision["decision_id"]
    expected = {
        "approve": PaymentStatus.APPROVED,
        "review": PaymentStatus.ON_HOLD,
        "block": PaymentStatus.BLOCKED,
    }
    assert payment.status == expected[decision["decision"]]


def test_an_unknown_payer_routes_and_is_screened_with_the_same_none_tier(
    rails, organization, user, django_capture_on_commit_callbacks
):
    """An empty payer_ref: routing and the real compliance decision both use tier "none"."""
    from apps.compliance.models import PaymentDecision

    # given a cross-border request from nobody we know (Wise needs basic, USDC full)
    request = make_request(
        amount=Decimal("20.00"),
        currency="USD",
        payee_currency="BRL",
        payer_country="US",
        payer_ref="",
        payee_identifiers={
            "email": "joao@example.com",
            "eth_address": "0x52908400098527886E0F7030069857D2E4169EE7",
        },
    )
    # when it is quoted and orchestrated
    quote = services.payment_quote(organization=organization, request=request)
    payment = services.payment_orchestrate(organization=organization, actor=user, request=request)
    # then routing left out the rails that need a known payer, and compliance applied the same tier
    assert quote.excluded["wise"] == "kyc_tier_basic_required"
    assert quote.excluded["usdc"] == "kyc_tier_full_required"
    assert payment.metadata["kyc_tier"] == "none" and payment.selected_rail == "stripe"
    assert PaymentDecision.objects.get(payment=payment).payer_tier == "none"
