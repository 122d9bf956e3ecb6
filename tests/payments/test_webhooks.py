from __future__ import annotations

import json
import time

import pytest
from django.test import Client

from apps.payments import conf, services
from apps.payments.choices import PaymentStatus
from apps.payments.models import RailWebhookEvent
from apps.payments.rails.base import hmac_signature_header
from apps.payments.rails.registry import rail_adapter
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db

RAIL_REQUESTS = {
    "pix": {},
    "stripe": {"preferred_rail": "stripe"},
    "wise": {
        "currency": "USD",
        "payee_currency": "BRL",
        "payer_country": "US",
        "payee_identifiers": {"email": "a@b.test"},
    },
    "sepa_instant": {
        "currency": "EUR",
        "payer_country": "ES",
        "payee_country": "DE",
        "payee_identifiers": {"iban": "DE89370400440532013000"},
    },
    "sepa": {
        "currency": "EUR",
        "payer_country": "ES",
        "payee_country": "DE",
        "payee_identifiers": {"iban": "DE89370400440532013000"},
        "urgency": "low",
        "preferred_rail": "sepa",
    },
    "payto": {
        "currency": "AUD",
        "payer_country": "AU",
        "payee_country": "AU",
        "payee_identifiers": {"payid": "x@y.au"},
    },
    "usdc": {
        "currency": "USD",
        "payee_currency": "BRL",
        "payer_country": "US",
        "payee_identifiers": {"eth_address": "0x52908400098527886E0F7030069857D2E4169EE7"},
        "kyc_tier": "full",
    },
}


@pytest.fixture(autouse=True)
def _doubles(monkeypatch):
    doubles = {
        "payment_compliance_decide": lambda *, payment, actor=None: services.FallbackComplianceDecision(),
        "customer_kyc_tier": lambda *, organization, party_ref: "basic",
        "conversation_payment_notify": None,
    }
    real = services._optional
    monkeypatch.setattr(services, "_optional", lambda m, n: doubles[n] if n in doubles else real(m, n))


def _initiated(organization, user, rail, monkeypatch, **overrides):
    # the provider must not call back by itself here: the test delivers the webhook
    monkeypatch.setattr("apps.payments.rails.sandbox.sandbox_settlement_schedule", lambda **kw: None)
    payment = services.payment_orchestrate(
        organization=organization, actor=user, request=make_request(**{**RAIL_REQUESTS[rail], **overrides})
    )
    assert payment.selected_rail == rail, payment.cost_breakdown
    message = payment.outbox.get()
    assert services.outbox_message_process(message_id=message.pk) == "initiated"
    payment.refresh_from_db()
    return payment


def _provider_webhook(rail, payment, outcome="succeeded"):
    adapter = rail_adapter(rail)
    client = adapter.client
    state = client.get_payment(payment.external_payment_id)
    state["status"] = outcome
    state["failure_reason"] = "" if outcome == "succeeded" else "account_closed"
    return client.webhook_build(state)


def _post(rail, body, headers):
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
    return Client().post(
        f"/api/v1/webhooks/rails/{rail}", data=body, content_type="application/json", **extra
    )


@pytest.mark.parametrize("rail", sorted(RAIL_REQUESTS))
def test_each_rail_webhook_is_verified_stored_and_settles_the_payment(
    rail, rails, organization, user, monkeypatch, django_capture_on_commit_callbacks
):
    payment = _initiated(organization, user, rail, monkeypatch)
    body, headers = _provider_webhook(rail, payment)
    with django_capture_on_commit_callbacks(execute=True):
        resp = _post(rail, body, headers)
    assert resp.status_code == 200 and resp.json()["duplicate"] is False
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.SUCCEEDED
    row = RailWebhookEvent.objects.get(rail=rail)
    assert row.payload == json.loads(body) and row.status == "processed"


def test_duplicate_webhook_is_acknowledged_and_ignored(
    rails, organization, user, monkeypatch, django_capture_on_commit_callbacks
):
    payment = _initiated(organization, user, "stripe", monkeypatch)
    body, headers = _provider_webhook("stripe", payment)
    with django_capture_on_commit_callbacks(execute=True) as first_callbacks:
        assert _post("stripe", body, headers).status_code == 200
    with django_capture_on_commit_callbacks(execute=True) as second_callbacks:
        again = _post("stripe", body, headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert len(first_callbacks) >= 1 and len(second_callbacks) == 0  # nothing queued for the duplicate
    assert RailWebhookEvent.objects.filter(rail="stripe").count() == 1
    payment.refresh_from_db()
    assert payment.events.filter(to_status=PaymentStatus.SUCCEEDED).count() == 1


def test_stripe_signature_is_stripes_own_scheme(rails, organization, user, monkeypatch):
    import stripe

    payment = _initiated(organization, user, "stripe", monkeypatch)
    body, headers = _provider_webhook("stripe", payment)
    # the official SDK accepts what the sandbox signs
    event = stripe.Webhook.construct_event(
        body.decode(), headers["Stripe-Signature"], conf.webhook_secret("stripe")
    )
    assert event["type"] == "payment_intent.succeeded"


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "stale", "missing", "body_changed"],
)
def test_bad_signatures_are_rejected_and_nothing_is_stored(rails, organization, user, monkeypatch, tamper):
    payment = _initiated(organization, user, "pix", monkeypatch)
    body, headers = _provider_webhook("pix", payment)
    if tamper == "wrong_secret":
        headers = {"X-Pix-Signature": hmac_signature_header(secret="not-the-secret", body=body)}
    elif tamper == "stale":
        headers = {
            "X-Pix-Signature": hmac_signature_header(
                secret=conf.webhook_secret("pix"), body=body, timestamp=int(time.time()) - 3600
            )
        }
    elif tamper == "missing":
        headers = {}
    else:
        body = body.replace(b"CONCLUIDA", b"NAO_REALIZADA")
    resp = _post("pix", body, headers)
    assert resp.status_code == 400 and resp.json()["code"] == "invalid_webhook_signature"
    assert not RailWebhookEvent.objects.exists()


def test_unknown_rail_is_404(rails):
    assert _post("bitcoin", b"{}", {}).status_code == 404


def test_failed_settlement_webhook_falls_back(
    rails, organization, user, monkeypatch, django_capture_on_commit_callbacks
):
    payment = _initiated(organization, user, "pix", monkeypatch)
    body, headers = _provider_webhook("pix", payment, outcome="failed")
    with django_capture_on_commit_callbacks(execute=True):
        assert _post("pix", body, headers).status_code == 200
    payment.refresh_from_db()
    assert payment.selected_rail != "pix" and payment.status in (
        PaymentStatus.APPROVED,
        PaymentStatus.INITIATED,
    )
    first = payment.rail_attempts.get(number=1)
    assert first.status == "failed" and first.error == "account_closed"
