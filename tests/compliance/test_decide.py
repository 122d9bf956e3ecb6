"""payment_compliance_decide and customer_kyc_tier (contract 3)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from djmoney.money import Money

from apps.compliance.models import Case, PaymentDecision
from apps.compliance.services import customer_kyc_tier, payment_compliance_decide
from tests.compliance.factories import KycProfileFactory

pytestmark = pytest.mark.django_db


def test_small_payment_of_unknown_party_is_approved_and_stored(payment_factory):
    # given
    payment = payment_factory(amount=Money("100.00", "BRL"))
    # when
    result = payment_compliance_decide(payment=payment)
    # then
    assert result.decision == "approve"
    assert result.case_id is None
    row = PaymentDecision.objects.get(pk=result.decision_id)
    assert row.payment_id == payment.pk
    assert row.payer_tier == "none"
    assert "large-amount" in row.rule_versions
    payment.refresh_from_db()
    assert payment.status == "screening"  # compliance never moves the payment itself


def test_amount_over_unverified_tier_limit_is_blocked_with_clear_reason(payment_factory):
    # given: an unverified payer (tier "none": 3,000 USD per transaction)
    payment = payment_factory(amount=Money("4000.00", "USD"))
    # when
    result = payment_compliance_decide(payment=payment)
    # then
    assert result.decision == "block"
    codes = [r["code"] for r in result.reasons]
    assert "limit_per_transaction" in codes
    reason = next(r for r in result.reasons if r["code"] == "limit_per_transaction")
    assert "3,000.00" in reason["message"]
    assert "none tier" in reason["message"]


def test_large_amount_of_verified_payer_goes_to_review_with_a_case(organization, payment_factory):
    # given
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    payment = payment_factory(payer_ref="ana", amount=Money("12000.00", "USD"))
    # when
    result = payment_compliance_decide(payment=payment)
    # then
    assert result.decision == "review"
    case = Case.objects.get(pk=result.case_id)
    assert case.payment_id == payment.pk
    assert case.status == "open"
    assert case.requires_four_eyes is True
    assert {r["code"] for r in case.reasons} >= {"large-amount"}
    assert all({"code", "message", "score"} <= set(r) for r in result.reasons)


def test_customer_kyc_tier(organization):
    # given
    KycProfileFactory(organization=organization, party_ref="ana", tier="full")
    # then
    assert customer_kyc_tier(organization=organization, party_ref="ana") == "full"
    assert customer_kyc_tier(organization=organization, party_ref="nobody") == "none"
    assert customer_kyc_tier(organization=organization, party_ref="") == "none"


def test_decision_uses_few_queries(organization, payment_factory, django_assert_max_num_queries):
    # given
    KycProfileFactory(organization=organization, party_ref="ana", tier="basic")
    payment = payment_factory(payer_ref="ana", amount=Money(Decimal("250.00"), "EUR"))
    payment_compliance_decide(payment=payment_factory(payer_ref="ana"))
    # when / then
    with django_assert_max_num_queries(14):
        assert payment_compliance_decide(payment=payment).decision == "approve"
