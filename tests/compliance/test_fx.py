"""USD equivalents of limits and thresholds follow payments' ECB rates."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from djmoney.money import Money

from apps.compliance.fx import UsdConverter
from apps.compliance.models import Case, PaymentDecision
from apps.compliance.services import payment_compliance_decide
from tests.compliance.factories import KycProfileFactory

pytestmark = pytest.mark.django_db

# The shipped ECB file (apps/payments/data/eurofxref-daily.xml) of 24 Nov 2026: per 1 EUR.
SHIPPED_USD, SHIPPED_BRL = Decimal("1.1525"), Decimal("6.1604")


def ecb_xml(day: str, **rates: str) -> bytes:
    cubes = "".join(f"<Cube currency='{c}' rate='{r}'/>" for c, r in rates.items())
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        "<gesmes:Envelope xmlns:gesmes='http://www.gesmes.org/xml/2002-08-01' "
        "xmlns='http://www.ecb.int/vocabulary/2002-08-01/eurofxref'>"
        f"<Cube><Cube time='{day}'>{cubes}</Cube></Cube></gesmes:Envelope>"
    ).encode()


@pytest.fixture(autouse=True)
def _fresh_fx_table() -> Iterator[None]:
    from apps.payments.fx.services import fx_table_reset

    fx_table_reset()
    yield
    fx_table_reset()


def test_converter_uses_the_ecb_cross_rate():
    # given payments' current table (the shipped ECB file: no snapshot stored)
    usd = UsdConverter()
    # then BRL → USD is crossed through EUR, and USD / USDC are 1:1
    assert usd(Decimal("1000"), "BRL") == (Decimal("1000") * SHIPPED_USD / SHIPPED_BRL).quantize(
        Decimal("0.0001")
    )
    assert usd(Decimal("10"), "USD") == Decimal("10.0000") and usd(Decimal("10"), "USDC") == Decimal(
        "10.0000"
    )
    assert usd(Decimal("100"), "EUR") == Decimal("115.2500")


def test_currencies_the_ecb_does_not_publish_use_the_fallback_table_then_one_to_one(settings):
    settings.COMPLIANCE_FX_TO_USD = {"CLP": "0.0010"}
    usd = UsdConverter()
    assert usd(Decimal("100000"), "ARS") == Decimal("110.0000")  # built-in fallback
    assert usd(Decimal("100000"), "CLP") == Decimal("100.0000")  # the setting overrides it
    assert usd(Decimal("100"), "KES") == Decimal("100.0000")  # unknown: never below a threshold by default
    usd(Decimal("1"), "BRL")
    assert usd.describe()["other"] == {"ARS": "fallback", "CLP": "fallback", "KES": "unrated"}
    assert set(usd.describe()["rates"]) == {"ARS", "BRL", "CLP", "KES"}


def test_limits_follow_the_newest_stored_ecb_rates(organization, payment_factory):
    from apps.payments.fx.services import fx_rates_refresh

    # given an unverified payer (3,000 USD per transaction) paying 2,800 EUR
    # when the shipped table says 1 EUR = 1.1525 USD (3,227 USD)
    blocked = payment_compliance_decide(payment=payment_factory(amount=Money("2800", "EUR")))
    # then the limit blocks
    assert "limit_per_transaction" in [r["code"] for r in blocked.reasons]
    # when a newer ECB day is stored in which 1 EUR = 1.05 USD (2,940 USD)
    fx_rates_refresh(content=ecb_xml("2026-12-01", USD="1.05", BRL="6.00"))
    result = payment_compliance_decide(payment=payment_factory(amount=Money("2800", "EUR")))
    # then the same payment passes, and the decision records the table it used
    assert "limit_per_transaction" not in [r["code"] for r in result.reasons]
    fx = PaymentDecision.objects.get(pk=result.decision_id).fx
    assert fx["source"] == "ecb" and fx["as_of"].startswith("2026-12-01")
    assert fx["rates"] == {"EUR": "1.0500000000"}


def test_case_amount_and_four_eyes_use_ecb_rates(organization, payment_factory, settings):
    # given four eyes from 10,000 USD and a payment of 55,000 BRL (about 10,290 USD at the shipped rate,
    # where the old fixed table said 10,450)
    settings.COMPLIANCE_FOUR_EYES_USD = "10000"
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", amount=Money("55000", "BRL"), selected_rail="pix")
    )
    # then
    case = Case.objects.get(pk=result.case_id)
    expected = (Decimal("55000") * SHIPPED_USD / SHIPPED_BRL).quantize(Decimal("0.01"))
    assert case.amount_usd.quantize(Decimal("0.01")) == expected
    assert case.requires_four_eyes is True
    assert "large-amount" in [r["code"] for r in case.reasons]


def test_one_rate_table_per_decision_however_long_the_history(organization, payment_factory, monkeypatch):
    from apps.payments.fx import services as fx_services
    from apps.payments.models import OrchestrationPayment

    # given a payer with 60 payments in three currencies in the last hour
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    for i in range(60):
        payment_factory(payer_ref="ana", amount=Money("10", ["BRL", "EUR", "GBP"][i % 3]), status="succeeded")
    assert OrchestrationPayment.objects.filter(payer_ref="ana").count() == 60
    tables, rates = [], []
    real_table, real_rate = fx_services.fx_table, fx_services.fx_rate
    monkeypatch.setattr(fx_services, "fx_table", lambda: tables.append(1) or real_table())
    monkeypatch.setattr(fx_services, "fx_rate", lambda *a, **k: rates.append(a) or real_rate(*a, **k))
    # when
    payment_compliance_decide(payment=payment_factory(payer_ref="ana", amount=Money("10", "BRL")))
    # then the table is taken once and each currency's rate computed once
    assert len(tables) == 1
    assert sorted(a[0] for a in rates) == ["BRL", "EUR", "GBP"]
