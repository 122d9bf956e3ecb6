"""Every AML / fraud rule, limits by tier, shadow mode and rule versioning."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from djmoney.money import Money

from apps.compliance import rules
from apps.compliance.models import PaymentDecision, RiskRule, RiskRuleVersion, TierLimit
from apps.compliance.rules import PaymentFacts
from apps.compliance.services import payment_compliance_decide, risk_rule_save, tier_limit_save
from tests.compliance.factories import KycProfileFactory

NOW = timezone.now()


def facts(**kw):
    base = {
        "now": NOW,
        "amount": Decimal("100"),
        "currency": "USD",
        "amount_usd": Decimal("100"),
        "payer_ref": "ana",
        "payee_ref": "bob",
        "from_country": "BR",
        "to_country": "BR",
        "rail": "pix",
    }
    base.update(kw)
    return PaymentFacts(**base)


def ago(**kw):
    return NOW - timedelta(**kw)


# --- pure evaluators ----------------------------------------------------------------------------


def test_amount_threshold():
    p = {"amount_usd": "10000"}
    assert rules.amount_threshold(p, facts(amount_usd=Decimal("9999.99"))) is None
    message, data = rules.amount_threshold(p, facts(amount_usd=Decimal("10000")))
    assert "10,000 USD" in message and data["threshold_usd"] == "10000"


def test_velocity_by_count_and_by_sum():
    p = {"window_minutes": 60, "max_count": 3, "max_sum_usd": "1000"}
    recent = [(ago(minutes=5), Decimal("10"), "x"), (ago(minutes=20), Decimal("10"), "y")]
    assert rules.velocity(p, facts(recent=recent, amount_usd=Decimal("10"))) is None  # 3 payments
    old = [*recent, (ago(minutes=90), Decimal("10"), "z")]
    assert rules.velocity(p, facts(recent=old, amount_usd=Decimal("10"))) is None  # outside the window
    fired = rules.velocity(
        p, facts(recent=[*recent, (ago(minutes=30), Decimal("10"), "z")], amount_usd=Decimal("10"))
    )
    assert fired and fired[1]["count"] == 4
    by_sum = rules.velocity(p, facts(recent=recent, amount_usd=Decimal("990")))
    assert by_sum and by_sum[1]["sum_usd"] == "1010"


def test_structuring():
    p = {"threshold_usd": "10000", "band": "0.15", "window_hours": 72, "min_count": 3}
    near = [(ago(hours=5), Decimal("9500"), "a"), (ago(hours=30), Decimal("9000"), "b")]
    assert rules.structuring(p, facts(recent=near[:1], amount_usd=Decimal("9800"))) is None  # only 2
    assert (
        rules.structuring(p, facts(recent=near, amount_usd=Decimal("5000"))) is None
    )  # this one is not near
    fired = rules.structuring(p, facts(recent=near, amount_usd=Decimal("9900")))
    assert fired and fired[1]["count"] == 3
    stale = [(ago(hours=100), Decimal("9500"), "a"), near[1]]
    assert rules.structuring(p, facts(recent=stale, amount_usd=Decimal("9900"))) is None


def test_new_counterparty_large():
    p = {"amount_usd": "2000"}
    assert rules.new_counterparty_large(p, facts(pair_count=0, amount_usd=Decimal("1999"))) is None
    assert rules.new_counterparty_large(p, facts(pair_count=1, amount_usd=Decimal("5000"))) is None
    assert rules.new_counterparty_large(p, facts(pair_count=0, amount_usd=Decimal("2000")))


def test_country_risk_countries_and_corridors():
    p = {"countries": ["IR", "KP"], "corridors": [["BR", "AE"]]}
    assert rules.country_risk(p, facts()) is None
    assert rules.country_risk(p, facts(to_country="ir"))[1] == {"countries": ["IR"]}
    assert rules.country_risk(p, facts(to_country="AE"))[1] == {"corridor": ["BR", "AE"]}
    assert rules.country_risk(p, facts(from_country="AE", to_country="BR")) is None  # corridors are directed


def test_amount_deviation():
    p = {"multiplier": "5", "min_history": 3}
    assert (
        rules.amount_deviation(p, facts(pair_count=2, pair_avg_usd=Decimal("10"), amount_usd=Decimal("500")))
        is None
    )
    assert (
        rules.amount_deviation(p, facts(pair_count=5, pair_avg_usd=Decimal("100"), amount_usd=Decimal("500")))
        is None
    )
    fired = rules.amount_deviation(
        p, facts(pair_count=5, pair_avg_usd=Decimal("100"), amount_usd=Decimal("501"))
    )
    assert fired and fired[1]["ratio"] == "5.01" and fired[1]["usual_usd"] == "100.00"


def test_dormant_reactivation():
    p = {"dormant_days": 180, "amount_usd": "500"}
    assert rules.dormant_reactivation(p, facts(last_payment_at=None, amount_usd=Decimal("900"))) is None
    assert (
        rules.dormant_reactivation(p, facts(last_payment_at=ago(days=179), amount_usd=Decimal("900"))) is None
    )
    assert (
        rules.dormant_reactivation(p, facts(last_payment_at=ago(days=200), amount_usd=Decimal("100"))) is None
    )
    assert rules.dormant_reactivation(p, facts(last_payment_at=ago(days=200), amount_usd=Decimal("900")))[
        1
    ] == {"idle_days": 200}


def test_rapid_in_out():
    p = {"window_hours": 24, "ratio": "0.8", "min_amount_usd": "1000"}
    received = [(ago(hours=3), Decimal("5000"))]
    # given less than the minimum received, nothing fires whatever goes out
    small = [(ago(hours=3), Decimal("500"))]
    assert rules.rapid_in_out(p, facts(inbound=small, amount_usd=Decimal("500"))) is None
    # given 5,000 received, sending 1,000 is under 80 %
    assert rules.rapid_in_out(p, facts(inbound=received, amount_usd=Decimal("1000"))) is None
    # when 3,000 already left after it arrived, this 1,000 makes 80 %
    recent = [(ago(hours=2), Decimal("3000"), "x")]
    fired = rules.rapid_in_out(p, facts(inbound=received, recent=recent, amount_usd=Decimal("1000")))
    assert fired and fired[1] == {"inbound_usd": "5000", "outbound_usd": "4000", "window_hours": 24}
    # payments made before the money arrived are not "out" of it
    before = [(ago(hours=5), Decimal("3000"), "x")]
    assert rules.rapid_in_out(p, facts(inbound=received, recent=before, amount_usd=Decimal("1000"))) is None


def test_rapid_in_out_honours_its_window():
    # given 5,000 received 30 hours ago and 3,500 sent out since
    received = [(ago(hours=30), Decimal("5000"))]
    recent = [(ago(hours=20), Decimal("3500"), "x")]
    f = facts(inbound=received, recent=recent, amount_usd=Decimal("600"))
    # then a 24 h rule does not see the money come in, a 48 h rule does
    assert rules.rapid_in_out({"window_hours": 24}, f) is None
    fired = rules.rapid_in_out({"window_hours": 48}, f)
    assert fired and fired[1]["window_hours"] == 48 and fired[1]["inbound_usd"] == "5000"


@pytest.mark.parametrize(
    ("evaluator", "f", "fires", "quiet"),
    [
        (
            rules.amount_threshold,
            {"amount_usd": Decimal("600")},
            {"amount_usd": "500"},
            {"amount_usd": "700"},
        ),
        (
            rules.velocity,
            {"recent": [(ago(minutes=20), Decimal("10"), "x")] * 3, "amount_usd": Decimal("10")},
            {"window_minutes": 30, "max_count": 3},
            {"window_minutes": 10, "max_count": 3},
        ),
        (
            rules.velocity,
            {"recent": [(ago(minutes=20), Decimal("10"), "x")] * 3, "amount_usd": Decimal("10")},
            {"window_minutes": 30, "max_count": 100, "max_sum_usd": "39"},
            {"window_minutes": 30, "max_count": 100, "max_sum_usd": "40"},
        ),
        (
            rules.structuring,
            {"recent": [(ago(hours=80), Decimal("9000"), "x")] * 2, "amount_usd": Decimal("9500")},
            {"window_hours": 96},
            {"window_hours": 72},
        ),
        (
            rules.structuring,
            {"recent": [(ago(hours=5), Decimal("9000"), "x")] * 2, "amount_usd": Decimal("9500")},
            {"band": "0.15", "min_count": 3},
            {"band": "0.04", "min_count": 3},
        ),
        (
            rules.structuring,
            {"recent": [(ago(hours=5), Decimal("4500"), "x")] * 2, "amount_usd": Decimal("4600")},
            {"threshold_usd": "5000"},
            {"threshold_usd": "10000"},
        ),
        (
            rules.new_counterparty_large,
            {"pair_count": 0, "amount_usd": Decimal("2500")},
            {"amount_usd": "2000"},
            {"amount_usd": "3000"},
        ),
        (
            rules.country_risk,
            {"from_country": "BR", "to_country": "AE"},
            {"corridors": [["BR", "AE"]]},
            {"corridors": [["AE", "BR"]], "countries": ["IR"]},
        ),
        (
            rules.amount_deviation,
            {"pair_count": 3, "pair_avg_usd": Decimal("100"), "amount_usd": Decimal("450")},
            {"multiplier": "4", "min_history": 3},
            {"multiplier": "4", "min_history": 4},
        ),
        (
            rules.dormant_reactivation,
            {"last_payment_at": ago(days=100), "amount_usd": Decimal("600")},
            {"dormant_days": 90, "amount_usd": "500"},
            {"dormant_days": 90, "amount_usd": "700"},
        ),
        (
            rules.dormant_reactivation,
            {"last_payment_at": ago(days=100), "amount_usd": Decimal("600")},
            {"dormant_days": 90},
            {"dormant_days": 120},
        ),
        (
            rules.amount_deviation,
            {"pair_count": 3, "pair_avg_usd": Decimal("100"), "amount_usd": Decimal("450")},
            {"multiplier": "4"},
            {"multiplier": "5"},
        ),
        (
            rules.rapid_in_out,
            {"inbound": [(ago(hours=3), Decimal("5000"))], "amount_usd": Decimal("4500")},
            {"ratio": "0.9", "min_amount_usd": "1000"},
            {"ratio": "0.95", "min_amount_usd": "1000"},
        ),
        (
            rules.rapid_in_out,
            {"inbound": [(ago(hours=3), Decimal("5000"))], "amount_usd": Decimal("4500")},
            {"min_amount_usd": "5000"},
            {"min_amount_usd": "5001"},
        ),
    ],
)
def test_every_parameter_changes_the_outcome(evaluator, f, fires, quiet):
    # given the same facts, when only the parameters differ, then one set fires and the other does not
    assert evaluator(fires, facts(**f)) is not None
    assert evaluator(quiet, facts(**f)) is None


def test_rule_params_are_validated_against_their_kind():
    from apps.compliance.rules import RuleParamsError, rule_params_validate

    assert rule_params_validate("velocity", {"window_minutes": "30", "max_sum_usd": 100}) == {
        "window_minutes": 30,
        "max_sum_usd": "100",
    }
    assert rule_params_validate("country_risk", {"corridors": [["br", "ae"]]}) == {
        "corridors": [["BR", "AE"]]
    }
    for kind, params, bad in [
        ("rapid_in_out", {"window_hour": 48}, "window_hour"),  # misspelt: would silently default to 24
        ("rapid_in_out", {"ratio": "1.5"}, "ratio"),
        ("amount_threshold", {"amount_usd": 10000.5}, "amount_usd"),  # floats are not money
        ("velocity", {"max_count": 0}, "max_count"),
        ("structuring", {"window_hours": "2.5"}, "window_hours"),
        ("country_risk", {"countries": ["Iran"]}, "countries"),
        ("country_risk", {"corridors": [["BR"]]}, "corridors"),
    ]:
        with pytest.raises(RuleParamsError) as exc:
            rule_params_validate(kind, params)
        assert list(exc.value.errors) == [bad], (kind, params)


def test_history_lookback_follows_the_rules_windows():
    from types import SimpleNamespace

    from apps.compliance.rules import history_lookback

    rule = lambda kind, **params: SimpleNamespace(kind=kind, params=params)  # noqa: E731
    outgoing, inbound = history_lookback(
        [
            rule("velocity", window_minutes=90),
            rule("structuring", window_hours=240),
            rule("rapid_in_out", window_hours=48),
            rule("amount_threshold", amount_usd="1"),
        ]
    )
    assert (outgoing, inbound) == (timedelta(hours=240), timedelta(hours=48))
    assert history_lookback([rule("rapid_in_out")]) == (timedelta(hours=24), timedelta(hours=24))
    assert history_lookback([rule("amount_threshold")]) == (timedelta(0), timedelta(0))


def test_every_rule_kind_has_an_evaluator_and_a_default_rule():
    from apps.compliance.choices import RuleKind

    assert set(rules.EVALUATORS) == set(RuleKind.values)
    assert {r["kind"] for r in rules.DEFAULT_RULES} == set(RuleKind.values)


# --- through the decision service, on real payment history -------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytest.fixture
def full_payer(organization):
    return KycProfileFactory(organization=organization, party_ref="ana", tier="full")


def _history(payment_factory, n, *, minutes_ago, **kw):
    from apps.payments.models import OrchestrationPayment

    made = [payment_factory(payer_ref="ana", status="succeeded", **kw) for _ in range(n)]
    OrchestrationPayment.objects.filter(pk__in=[p.pk for p in made]).update(
        created_at=ago(minutes=minutes_ago)
    )
    return made


@pytest.mark.django_db
def test_structuring_on_real_history_goes_to_review(full_payer, payment_factory):
    _history(payment_factory, 2, minutes_ago=120, amount=Money("9600", "USD"), payee_ref="bob")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("9700", "USD"))
    )
    assert result.decision == "review"
    assert "structuring-72h" in [r["code"] for r in result.reasons]


@pytest.mark.django_db
def test_dormant_account_and_deviation_on_real_history(full_payer, payment_factory):
    _history(payment_factory, 4, minutes_ago=60 * 24 * 365, amount=Money("100", "USD"), payee_ref="bob")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("2000", "USD"))
    )
    codes = [r["code"] for r in result.reasons]
    assert "dormant-reactivation" in codes and "amount-deviation" in codes
    assert result.decision == "review"  # 30 + 35 ≥ 50


@pytest.mark.django_db
def test_rapid_in_out_on_real_history(full_payer, payment_factory):
    from apps.payments.models import OrchestrationPayment

    received = payment_factory(
        payee_ref="ana", payer_ref="someone", amount=Money("5000", "USD"), status="succeeded"
    )
    OrchestrationPayment.objects.filter(pk=received.pk).update(created_at=ago(hours=2))
    _history(payment_factory, 1, minutes_ago=30, amount=Money("3000", "USD"), payee_ref="carol")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="carol", amount=Money("1500", "USD"))
    )
    assert "rapid-in-out" in [r["code"] for r in result.reasons]
    assert result.decision == "review"


@pytest.mark.django_db
def test_velocity_on_real_history(full_payer, payment_factory):
    _history(payment_factory, 10, minutes_ago=10, amount=Money("10", "USD"), payee_ref="bob")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("10", "USD"))
    )
    assert "velocity-1h" in [r["code"] for r in result.reasons]


@pytest.mark.django_db
def test_blacklisted_country_blocks(full_payer, payment_factory):
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana", to_country="KP"))
    assert result.decision == "block"
    assert [r["code"] for r in result.reasons] == ["fatf-blacklist"]


@pytest.mark.django_db
def test_shadow_rule_is_logged_not_enforced_and_versions_are_stored(
    full_payer, organization, payment_factory
):
    # given an organisation-specific rule in shadow mode that would block everything
    rule = risk_rule_save(
        rule=RiskRule(
            organization=organization,
            code="shadow-all",
            name="Try: block >= 1 USD",
            kind="amount_threshold",
            params={"amount_usd": "1"},
            score=100,
            action="block",
            mode="shadow",
        )
    )
    # when
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana"))
    # then
    assert result.decision == "approve"
    row = PaymentDecision.objects.get(pk=result.decision_id)
    assert [r["code"] for r in row.shadow_reasons] == ["shadow-all"]
    assert row.rule_versions["shadow-all"] == 1
    # and an edit creates version 2, which the next decision cites
    rule.mode = "enforce"
    rule = risk_rule_save(rule=rule)
    assert rule.version == 2
    assert list(RiskRuleVersion.objects.filter(rule=rule).values_list("version", flat=True)) == [1, 2]
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana"))
    assert result.decision == "block"
    assert PaymentDecision.objects.get(pk=result.decision_id).rule_versions["shadow-all"] == 2


@pytest.mark.django_db
def test_organisation_rule_overrides_platform_rule_and_off_disables(
    full_payer, organization, payment_factory
):
    # given the platform rule fires for a 5,000 USD first payment to a new counterparty
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana", amount=Money("5000", "USD")))
    assert "new-counterparty-large" in [r["code"] for r in result.reasons]
    # when the organisation overrides it with a lower threshold
    risk_rule_save(
        rule=RiskRule(
            organization=organization,
            code="large-amount",
            name="Lower threshold",
            kind="amount_threshold",
            params={"amount_usd": "50"},
            score=50,
            action="review",
        )
    )
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana", amount=Money("60", "USD")))
    assert result.decision == "review"
    # and switches the platform's new-counterparty rule off for itself
    platform = RiskRule.objects.get(organization__isnull=True, code="new-counterparty-large")
    risk_rule_save(
        rule=RiskRule(
            organization=organization,
            code=platform.code,
            name=platform.name,
            kind=platform.kind,
            params=platform.params,
            score=platform.score,
            action=platform.action,
            mode="off",
        )
    )
    result = payment_compliance_decide(payment=payment_factory(payer_ref="ana", amount=Money("5000", "USD")))
    assert "new-counterparty-large" not in [r["code"] for r in result.reasons]


# --- limits -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_daily_and_monthly_limits_count_earlier_payments(organization, payment_factory):
    KycProfileFactory(organization=organization, party_ref="ana", tier="basic")  # 15k / 30k / 100k USD
    _history(payment_factory, 2, minutes_ago=60, amount=Money("14000", "USD"), payee_ref="bob")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("2500", "USD"))
    )
    assert "limit_daily" in [r["code"] for r in result.reasons]
    assert result.decision == "block"


@pytest.mark.django_db
def test_failed_payments_do_not_count_towards_limits(organization, payment_factory):
    KycProfileFactory(organization=organization, party_ref="ana", tier="basic")
    _history(payment_factory, 3, minutes_ago=60, amount=Money("14000", "USD"), payee_ref="bob")
    from apps.payments.models import OrchestrationPayment

    OrchestrationPayment.objects.filter(payer_ref="ana").update(status="failed")
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", payee_ref="bob", amount=Money("2500", "USD"))
    )
    assert not [r for r in result.reasons if r["code"].startswith("limit_")]


@pytest.mark.django_db
def test_per_rail_and_currency_limits(organization, payment_factory):
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    TierLimit.objects.create(
        organization=organization, tier="full", rail="pix", currency="BRL", per_transaction=Decimal("1000")
    )
    # over the PIX/BRL cap
    result = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", amount=Money("1500", "BRL"), selected_rail="pix")
    )
    reason = next(r for r in result.reasons if r["code"] == "limit_per_transaction")
    assert "1,000.00 BRL" in reason["message"] and "pix" in reason["message"]
    # another rail or currency is not affected
    ok = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", amount=Money("1500", "BRL"), selected_rail="wise")
    )
    assert ok.decision == "approve"
    ok = payment_compliance_decide(
        payment=payment_factory(payer_ref="ana", amount=Money("1500", "EUR"), selected_rail="pix")
    )
    assert not [r for r in ok.reasons if r["code"].startswith("limit_")]


@pytest.mark.django_db
def test_organisation_limit_replaces_platform_default(organization, payment_factory):
    payment_compliance_decide(payment=payment_factory(amount=Money("10", "USD")))  # limits now cached
    tier_limit_save(limit=TierLimit(organization=organization, tier="none", per_transaction=Decimal("50000")))
    result = payment_compliance_decide(payment=payment_factory(amount=Money("4000", "USD")))
    assert "limit_per_transaction" not in [r["code"] for r in result.reasons]


@pytest.mark.django_db
def test_pep_and_high_risk_payee_profiles(organization, payment_factory):
    KycProfileFactory(organization=organization, party_ref="bob", risk_rating="high", is_pep=True)
    result = payment_compliance_decide(payment=payment_factory(payee_ref="bob"))
    assert {"payee_high_risk", "payee_pep"} <= {r["code"] for r in result.reasons}
    assert result.decision == "review"
