"""FX locks: a quote locks its rate, orchestrate pays at it, initiation and fallback read it back."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from apps.payments import services
from apps.payments.fx.ecb import SHIPPED_FILE
from apps.payments.fx.services import FxLockNotFound, fx_lock_get, fx_rate, fx_rates_refresh
from apps.payments.models import OrchestrationPayment, OutboxMessage
from apps.payments.rails.sandbox import SandboxClient
from tests.factories import OrganizationFactory
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db

QUOTE_BODY = {
    "amount": "1000.00",
    "currency": "USD",
    "payee_currency": "BRL",
    "payer_country": "US",
    "payee_country": "BR",
    "payer_ref": "ana",
    "payee_identifiers": {"email": "joao@example.com"},
}


def usd_to_brl(**overrides):
    return make_request(
        **{
            "amount": Decimal("1000.00"),
            "currency": "USD",
            "payee_currency": "BRL",
            "payer_country": "US",
            "payee_identifiers": {"email": "joao@example.com"},
            **overrides,
        }
    )


def live_brl_moves(per_eur: str) -> None:
    """A newer ECB day arrives in which BRL is worth ``per_eur`` per euro."""
    xml = SHIPPED_FILE.read_text()
    xml = re.sub(r"time='\d{4}-\d{2}-\d{2}'", "time='2026-11-25'", xml)
    xml = re.sub(r"currency='BRL' rate='[\d.]+'", f"currency='BRL' rate='{per_eur}'", xml)
    fx_rates_refresh(content=xml.encode())


def test_a_cross_currency_quote_locks_its_rate_and_orchestrate_pays_at_it(rails, auth_client, compliance):
    # given a quote
    quote = auth_client.post("/api/v1/payments/quote", QUOTE_BODY, format="json").json()
    lock_id = quote["fx_lock_id"]
    locked_rate = Decimal(quote["selected"]["quote"]["fx_rate"])
    assert lock_id and quote["fx_lock_expires_at"]
    held = fx_lock_get(lock_id)
    assert held is not None and held.rate == locked_rate
    assert held.expires_at - timezone.now() > timedelta(seconds=890)
    # when the live rate moves and the client pays with the quote's lock
    live_brl_moves("9.0000")
    assert fx_rate("USD", "BRL") != locked_rate
    resp = auth_client.post(
        "/api/v1/payments/orchestrate", {**QUOTE_BODY, "fx_lock_id": lock_id}, format="json"
    )
    # then the payment converts at the quoted rate, not the live one
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["metadata"]["fx_lock"]["id"] == lock_id
    assert Decimal(body["cost_breakdown"]["fx_rate"]) == locked_rate
    assert body["cost_breakdown"]["payee_amount"] == quote["selected"]["quote"]["payee_amount"]


def test_a_same_currency_quote_has_no_lock(rails, auth_client, compliance):
    body = {**QUOTE_BODY, "currency": "BRL", "payer_country": "BR", "payee_identifiers": {"pix_key": "x"}}
    quote = auth_client.post("/api/v1/payments/quote", body, format="json").json()
    assert quote["fx_lock_id"] is None and quote["fx_lock_expires_at"] is None


def test_orchestrate_refuses_unknown_expired_and_mismatched_locks(rails, auth_client, compliance, settings):
    settings.PAYMENTS_FX_LOCK_TTL_SECONDS = 60  # shorter than the JWT's 15 minutes
    url = "/api/v1/payments/orchestrate"
    lock_id = auth_client.post("/api/v1/payments/quote", QUOTE_BODY, format="json").json()["fx_lock_id"]

    unknown = auth_client.post(url, {**QUOTE_BODY, "fx_lock_id": "nope"}, format="json")
    assert unknown.status_code == 422 and unknown.json()["code"] == "fx_lock_not_found"

    other_pair = {**QUOTE_BODY, "payee_currency": "MXN", "payee_country": "MX", "fx_lock_id": lock_id}
    mismatch = auth_client.post(url, other_pair, format="json")
    assert mismatch.status_code == 422 and mismatch.json()["code"] == "fx_lock_mismatch"

    same_currency = {**QUOTE_BODY, "payee_currency": "USD", "payee_country": "US", "fx_lock_id": lock_id}
    assert auth_client.post(url, same_currency, format="json").json()["code"] == "fx_lock_mismatch"

    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        expired = auth_client.post(url, {**QUOTE_BODY, "fx_lock_id": lock_id}, format="json")
    assert expired.status_code == 422 and expired.json()["code"] == "fx_lock_expired"
    assert not OrchestrationPayment.objects.exists()


def test_another_organisations_lock_is_unknown(rails, organization, user, compliance):
    theirs = services.payment_quote(organization=OrganizationFactory(), request=usd_to_brl(payer_ref="x"))
    with pytest.raises(FxLockNotFound):
        services.payment_orchestrate(
            organization=organization, actor=user, request=usd_to_brl(fx_lock_id=theirs.fx_lock_id)
        )


def _initiate(payment):
    message = OutboxMessage.objects.get(payment=payment, status="pending")
    assert services.outbox_message_process(message_id=message.pk) == "initiated"
    payment.refresh_from_db()
    return SandboxClient(payment.selected_rail).get_payment(payment.external_payment_id)


def test_initiation_reads_the_lock_back_instead_of_the_live_rate(rails, organization, user, compliance):
    # given a cross-currency payment approved with a locked rate
    payment = services.payment_orchestrate(organization=organization, actor=user, request=usd_to_brl())
    lock = payment.metadata["fx_lock"]
    # when the live rate moves before the worker initiates it
    live_brl_moves("9.0000")
    provider = _initiate(payment)
    # then the provider is asked to convert at the locked rate
    assert provider["extra"]["fx_lock_id"] == lock["id"] and provider["extra"]["fx_rate"] == lock["rate"]
    assert provider["extra"]["payee_amount"] == payment.cost_breakdown["payee_amount"]
    initiated = payment.events.get(to_status="initiated")
    assert initiated.data["fx_lock_id"] == lock["id"] and initiated.data["fx_relocked"] is False


def test_a_lock_that_expired_before_initiation_is_renewed_at_todays_rate(
    rails, organization, user, compliance
):
    # given a payment whose lock expires before a worker gets to it (e.g. a long review)
    payment = services.payment_orchestrate(organization=organization, actor=user, request=usd_to_brl())
    old = payment.metadata["fx_lock"]
    live_brl_moves("9.0000")
    # when it is initiated after the lock's expiry
    with time_machine.travel(timezone.now() + timedelta(seconds=901)):
        provider = _initiate(payment)
    # then it converts at a new lock at today's rate, and says so
    new = payment.metadata["fx_lock"]
    assert new["id"] != old["id"] and new["replaces"] == old["id"]
    assert Decimal(new["rate"]) == fx_rate("USD", "BRL") != Decimal(old["rate"])
    assert payment.cost_breakdown["fx_rate"] == new["rate"] == provider["extra"]["fx_rate"]
    assert payment.events.get(to_status="initiated").data["fx_relocked"] is True


def test_fallback_keeps_the_locked_rate(rails, organization, user, compliance):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=usd_to_brl())
    locked = payment.metadata["fx_lock"]["rate"]
    first_rail = payment.selected_rail
    live_brl_moves("9.0000")
    moved = services.payment_fallback(payment=payment, actor=user, reason="try another")
    assert moved.selected_rail != first_rail
    assert moved.cost_breakdown["fx_rate"] == locked
    assert moved.metadata["fx_lock"]["rate"] == locked
