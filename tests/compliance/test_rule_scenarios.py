"""Every rule kind through ``payment_compliance_decide`` on real payment history: the rule fires with
its parameters, stays quiet when a parameter moves past the scenario, and in shadow mode is recorded
but never enforced.

Each test runs with the rule under test as the only rule, so what fires is that rule alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from djmoney.money import Money

from apps.compliance.models import PaymentDecision, RiskRule
from apps.compliance.services import payment_compliance_decide, risk_rule_save
from tests.compliance.factories import KycProfileFactory

pytestmark = pytest.mark.django_db


@dataclass
class Scenario:
    kind: str
    fires: dict[str, Any]
    quiet: list[dict[str, Any]]
    payment: dict[str, Any]
    # (hours ago, amount USD, payee_ref; payer "ana" unless the payee is "ana")
    history: list[tuple[float, str, str]] = field(default_factory=list)


SCENARIOS = {
    "amount_threshold": Scenario(
        kind="amount_threshold",
        fires={"amount_usd": "500"},
        quiet=[{"amount_usd": "700"}],
        payment={"amount": "600"},
    ),
    "velocity": Scenario(
        kind="velocity",
        fires={"window_minutes": 30, "max_count": 3, "max_sum_usd": "100000"},
        quiet=[
            {"window_minutes": 10, "max_count": 3, "max_sum_usd": "100000"},  # history outside the window
            {"window_minutes": 30, "max_count": 4, "max_sum_usd": "100000"},
        ],
        payment={"amount": "10"},
        history=[(1 / 3, "10", "bob")] * 3,
    ),
    "velocity_sum": Scenario(
        kind="velocity",
        fires={"window_minutes": 30, "max_count": 100, "max_sum_usd": "39"},
        quiet=[{"window_minutes": 30, "max_count": 100, "max_sum_usd": "40"}],
        payment={"amount": "10"},
        history=[(1 / 3, "10", "bob")] * 3,
    ),
    "structuring": Scenario(
        kind="structuring",
        # 80 h ago: only a window longer than the seeded 72 h sees them
        fires={"threshold_usd": "10000", "band": "0.15", "window_hours": 96, "min_count": 3},
        quiet=[
            {"threshold_usd": "10000", "band": "0.15", "window_hours": 72, "min_count": 3},
            {"threshold_usd": "10000", "band": "0.04", "window_hours": 96, "min_count": 3},
            {"threshold_usd": "10000", "band": "0.15", "window_hours": 96, "min_count": 4},
        ],
        payment={"amount": "9500"},
        history=[(80, "9000", "bob"), (81, "9100", "carol")],
    ),
    "new_counterparty_large": Scenario(
        kind="new_counterparty_large",
        fires={"amount_usd": "2000"},
        quiet=[{"amount_usd": "3000"}],
        payment={"amount": "2500", "payee_ref": "dave"},
        history=[(5, "100", "bob")],  # paid someone else before, never dave
    ),
    "country_risk_country": Scenario(
        kind="country_risk",
        fires={"countries": ["AE"]},
        quiet=[{"countries": ["IR"]}],
        payment={"amount": "100", "to_country": "AE"},
    ),
    "country_risk_corridor": Scenario(
        kind="country_risk",
        fires={"corridors": [["BR", "AE"]]},
        quiet=[{"corridors": [["AE", "BR"]]}],  # corridors are directed
        payment={"amount": "100", "from_country": "BR", "to_country": "AE"},
    ),
    "amount_deviation": Scenario(
        kind="amount_deviation",
        fires={"multiplier": "4", "min_history": 3},
        quiet=[{"multiplier": "5", "min_history": 3}, {"multiplier": "4", "min_history": 4}],
        payment={"amount": "450", "payee_ref": "bob"},
        history=[(200, "100", "bob"), (300, "90", "bob"), (400, "110", "bob")],
    ),
    "dormant_reactivation": Scenario(
        kind="dormant_reactivation",
        fires={"dormant_days": 90, "amount_usd": "500"},
        quiet=[{"dormant_days": 120, "amount_usd": "500"}, {"dormant_days": 90, "amount_usd": "700"}],
        payment={"amount": "600"},
        history=[(100 * 24, "80", "bob")],
    ),
    "rapid_in_out": Scenario(
        kind="rapid_in_out",
        # 5,000 came in 30 h ago and 3,000 left 20 h ago: only a window over 30 h sees the inflow
        fires={"window_hours": 48, "ratio": "0.8", "min_amount_usd": "1000"},
        quiet=[
            {"window_hours": 24, "ratio": "0.8", "min_amount_usd": "1000"},
            {"window_hours": 48, "ratio": "0.95", "min_amount_usd": "1000"},
            {"window_hours": 48, "ratio": "0.8", "min_amount_usd": "6000"},
        ],
        payment={"amount": "1500", "payee_ref": "carol"},
        history=[(30, "5000", "ana"), (20, "3000", "carol")],
    ),
}


@pytest.fixture
def scenario_payment(organization, payment_factory):
    """Build a scenario's history and return its payment, with a fully verified payer ``ana``."""
    from apps.payments.models import OrchestrationPayment

    KycProfileFactory(organization=organization, party_ref="ana", tier="full", country="BR")

    def make(scenario: Scenario) -> Any:
        now = timezone.now()
        for hours_ago, amount, payee in scenario.history:
            payer = "someone-else" if payee == "ana" else "ana"
            p = payment_factory(
                payer_ref=payer, payee_ref=payee, amount=Money(amount, "USD"), status="succeeded"
            )
            OrchestrationPayment.objects.filter(pk=p.pk).update(created_at=now - timedelta(hours=hours_ago))
        kwargs = {"payee_ref": "bob", **scenario.payment}
        amount = kwargs.pop("amount")
        return payment_factory(payer_ref="ana", amount=Money(amount, "USD"), **kwargs)

    return make


def only_rule(organization: Any, *, kind: str, params: dict[str, Any], mode: str = "enforce") -> RiskRule:
    RiskRule.objects.all().delete()
    return risk_rule_save(
        rule=RiskRule(
            organization=organization,
            code="under-test",
            name=f"{kind} under test",
            kind=kind,
            params=params,
            score=60,
            action="review",
            mode=mode,
        )
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_rule_fires_with_its_parameters(name, organization, scenario_payment):
    # given
    scenario = SCENARIOS[name]
    rule = only_rule(organization, kind=scenario.kind, params=scenario.fires)
    # when
    result = payment_compliance_decide(payment=scenario_payment(scenario))
    # then
    assert [r["code"] for r in result.reasons] == ["under-test"]
    reason = result.reasons[0]
    assert reason["score"] == 60 and reason["action"] == "review" and reason["rule_version"] == rule.version
    assert reason["message"]
    assert result.decision == "review"


@pytest.mark.parametrize(
    ("name", "quiet"), [(name, q) for name, s in SCENARIOS.items() for q in range(len(s.quiet))]
)
def test_rule_stays_quiet_when_a_parameter_moves(name, quiet, organization, scenario_payment):
    # given the same history, with one parameter past what the scenario reaches
    scenario = SCENARIOS[name]
    only_rule(organization, kind=scenario.kind, params=scenario.quiet[quiet])
    # when
    result = payment_compliance_decide(payment=scenario_payment(scenario))
    # then
    assert result.reasons == [] and result.decision == "approve"


@pytest.mark.parametrize("name", SCENARIOS)
def test_shadow_rule_is_recorded_not_enforced(name, organization, scenario_payment):
    # given the firing scenario with its rule in shadow mode
    scenario = SCENARIOS[name]
    only_rule(organization, kind=scenario.kind, params=scenario.fires, mode="shadow")
    # when
    result = payment_compliance_decide(payment=scenario_payment(scenario))
    # then it is stored with the decision, and the decision ignores it
    assert result.decision == "approve" and result.reasons == [] and result.case_id is None
    row = PaymentDecision.objects.get(pk=result.decision_id)
    assert [r["code"] for r in row.shadow_reasons] == ["under-test"]
    assert row.rule_versions == {"under-test": 1}


def test_country_rule_falls_back_to_the_parties_kyc_countries(organization, payment_factory):
    # given a payee whose KYC country is blacklisted, paid without a destination country
    KycProfileFactory(organization=organization, party_ref="ana", tier="full", country="BR")
    KycProfileFactory(organization=organization, party_ref="bob", tier="basic", country="IR")
    only_rule(organization, kind="country_risk", params={"countries": ["IR"]})
    payment = payment_factory(payer_ref="ana", payee_ref="bob", from_country="", to_country="")
    # when
    result = payment_compliance_decide(payment=payment)
    # then
    assert [r["data"] for r in result.reasons] == [{"countries": ["IR"]}]


def test_new_counterparty_known_to_the_relationship_graph_is_not_new(organization, payment_factory):
    from apps.accounting.models import PaymentRelationship
    from apps.payments.models import OrchestrationPayment

    # given no payments between them here, but an accounting relationship of 12 payments of ~100 USD
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    PaymentRelationship.objects.create(
        organization=organization,
        user_id="ana",
        counterparty_id="bob",
        total_payments_count=12,
        avg_payment_amount=Money("100", "USD"),
    )
    only_rule(organization, kind="new_counterparty_large", params={"amount_usd": "1000"})
    # when
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("5000", "USD"))
    )
    # then the relationship's history counts: not a new counterparty
    assert result.reasons == []
    # and, while no payment between them exists here, its usual amount is what a deviation rule uses
    OrchestrationPayment.objects.filter(payer_ref="ana").delete()
    only_rule(organization, kind="amount_deviation", params={"multiplier": "5", "min_history": 3})
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("5000", "USD"))
    )
    assert result.reasons[0]["data"] == {"usual_usd": "100.00", "ratio": "50.00"}


def test_failed_payments_are_not_history(organization, payment_factory, scenario_payment):
    from apps.payments.models import OrchestrationPayment

    # given the velocity scenario, but its earlier payments failed
    scenario = SCENARIOS["velocity"]
    only_rule(organization, kind="velocity", params=scenario.fires)
    payment = scenario_payment(scenario)
    OrchestrationPayment.objects.filter(payer_ref="ana").exclude(pk=payment.pk).update(status="failed")
    # when / then
    assert payment_compliance_decide(payment=payment).reasons == []


def test_invalid_params_are_refused_when_a_rule_is_saved(organization):
    from apps.core.exceptions import ApplicationError

    with pytest.raises(ApplicationError) as exc:
        only_rule(organization, kind="rapid_in_out", params={"window_hour": 48})
    assert exc.value.code == "invalid_rule_params"
    assert "params.window_hour" in exc.value.errors
    assert not RiskRule.objects.filter(code="under-test").exists()
