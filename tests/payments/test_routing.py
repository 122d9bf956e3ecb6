from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from apps.payments.circuit import circuit_open
from apps.payments.routing import NoEligibleRail, route
from apps.payments.types import Preferences
from tests.payments.conftest import make_request, set_rail

pytestmark = pytest.mark.django_db

ALL_IDS = {
    "iban": "DE89370400440532013000",
    "email": "marco@example.com",
    "eth_address": "0x52908400098527886E0F7030069857D2E4169EE7",
    "pix_key": "11144477735",
}


def test_brl_to_brl_in_brazil_picks_pix(rails):
    # given a domestic Brazilian payment with a PIX key
    request = make_request(amount=Decimal("600.00"))
    # when
    decision = route(request)
    # then PIX wins, Stripe is a costlier alternative, and the explanation says so
    assert decision.selected.rail == "pix"
    assert decision.selected.quote.fee_total == Decimal("2.40")
    stripe = next(o for o in decision.alternatives if o.rail == "stripe")
    assert stripe.quote.total_cost > decision.selected.quote.total_cost
    assert "PIX" in decision.explanation and "cheaper than" in decision.explanation
    assert "in seconds" in decision.explanation


def test_explanation_in_portuguese_and_spanish(rails):
    pt = route(make_request(language="pt"))
    es = route(make_request(language="es"))
    assert "Você está pagando via PIX" in pt.explanation and "R$ 0,40" in pt.explanation
    runner_up = pt.alternatives[0]
    assert f"mais barato que {runner_up.display_name}, chega em segundos" in pt.explanation
    assert "Estás pagando vía PIX" in es.explanation
    assert f"más barato que {runner_up.display_name}, llega en segundos" in es.explanation
    assert pt.explanation_data["comparison"]["rail"] == runner_up.rail
    assert set(pt.explanation_data["scores"]) == {o.rail for o in pt.ranked}


def test_sepa_picks_sct_inst_under_its_limit_and_sct_above(rails):
    base = {
        "currency": "EUR",
        "payer_country": "ES",
        "payee_country": "DE",
        "payee_identifiers": {"iban": ALL_IDS["iban"]},
    }
    under = route(make_request(amount=Decimal("800.00"), **base))
    at_limit = route(make_request(amount=Decimal("100000.00"), **base))
    over = route(make_request(amount=Decimal("150000.00"), **base))
    assert under.selected.rail == "sepa_instant"
    assert at_limit.selected.rail == "sepa_instant"
    assert over.selected.rail == "sepa"
    assert over.excluded["sepa_instant"] == "above_maximum"


def test_aud_to_aud_picks_payto(rails):
    decision = route(
        make_request(
            amount=Decimal("250.00"),
            currency="AUD",
            payer_country="AU",
            payee_country="AU",
            payee_identifiers={"payid": "alex@example.com.au"},
        )
    )
    assert decision.selected.rail == "payto"
    assert decision.selected.quote.fee_total == Decimal("0.35")


@pytest.mark.parametrize(
    ("amount", "weight"),
    [("1000.00", None), ("20000.00", None), ("50.00", 1.0), ("1000.00", 1.0), ("20000.00", 1.0)],
)
def test_usd_to_brl_picks_cheapest_of_wise_stripe_usdc_by_total_cost(rails, amount, weight):
    # (default weights trade a near-tie in cost for speed; a cost-only user always gets the cheapest)
    # given a cross-border payment every one of the three rails can carry
    request = make_request(
        amount=Decimal(amount),
        currency="USD",
        payee_currency="BRL",
        payer_country="US",
        payee_country="BR",
        payee_identifiers=ALL_IDS,
        kyc_tier="full",
    )
    # when
    prefs = Preferences(cost_weight=weight) if weight is not None else None
    decision = route(request, kyc_tier="full", preferences=prefs)
    # then the winner has the lowest total cost (fees + FX spread + time value) of the three
    costs = {o.rail: o.quote.total_cost for o in decision.ranked}
    assert {"wise", "stripe", "usdc"} <= set(costs)
    assert decision.selected.rail == min(("wise", "stripe", "usdc"), key=lambda r: costs[r])
    assert decision.selected.quote.payee_currency == "BRL"
    assert decision.selected.quote.payee_amount > Decimal(amount) * 5


def test_usdc_needs_full_kyc(rails):
    request = make_request(
        currency="USD",
        payee_currency="BRL",
        payer_country="US",
        payee_country="BR",
        payee_identifiers=ALL_IDS,
    )
    decision = route(request, kyc_tier="basic")
    assert decision.excluded["usdc"] == "kyc_tier_full_required"


def test_open_circuit_excludes_the_rail(rails):
    circuit_open("pix")
    decision = route(make_request())
    assert decision.selected.rail == "stripe"
    assert decision.excluded["pix"] == "circuit_open"


def test_no_rail_raises_422_with_reasons(rails):
    with pytest.raises(NoEligibleRail) as err:
        route(make_request(currency="BRL", payee_identifiers={}, amount=Decimal("0.10")))
    assert err.value.status_code == 422
    assert err.value.extra["excluded"]["pix"].startswith("missing_payee_identifier")


def test_invalid_request_is_a_422(rails):
    from apps.payments.routing import InvalidPaymentRequest

    with pytest.raises(InvalidPaymentRequest) as err:
        route(make_request(currency="XYZ", amount=Decimal("-1")))
    assert set(err.value.errors) == {"currency", "amount", "payee_currency"}


def test_routing_is_deterministic_and_honours_weights(rails):
    request = make_request(
        amount=Decimal("1000.00"),
        currency="USD",
        payee_currency="BRL",
        payer_country="US",
        payee_country="BR",
        payee_identifiers=ALL_IDS,
    )
    # same inputs (the submission time included: settles_at depends on it) → same decision
    now = timezone.now()
    first = route(request, kyc_tier="full", now=now)
    assert [o.to_dict() for o in route(request, kyc_tier="full", now=now).ranked] == [
        o.to_dict() for o in first.ranked
    ]
    # a speed-only user gets the fastest rail (USDC settles in minutes, Wise in hours)
    fast = route(request, kyc_tier="full", preferences=Preferences(cost_weight=0.0))
    assert fast.selected.rail == "usdc"
    # an explicit request for a rail is honoured when it is eligible
    asked = route(make_request(preferred_rail="stripe"))
    assert asked.selected.rail == "stripe" and "requested" in asked.selected.reasons


def test_disabled_rail_is_not_offered(rails):
    set_rail("pix", enabled=False)
    decision = route(make_request())
    assert decision.selected.rail == "stripe" and "pix" not in decision.excluded
