"""Operating hours and cut-offs move settlement ETAs (SEPA SCT: 16:00 Brussels, TARGET days)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from apps.payments.rails.hours import settlement_estimate, target_closing_days
from apps.payments.routing import route
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db

BRUSSELS = ZoneInfo("Europe/Brussels")
MONDAY = (2026, 11, 23)  # an ordinary week: no TARGET closing day


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=BRUSSELS)


@pytest.mark.parametrize(
    ("submitted", "settles", "business_days"),
    [
        # before the cut-off on a business day: D+1
        (at(*MONDAY, 10), at(2026, 11, 24, 10), 1),
        # after 16:00: accepted on Tuesday, arrives on Wednesday
        (at(*MONDAY, 16, 30), at(2026, 11, 25, 0), 2),
        # Friday before the cut-off: the next business day is Monday
        (at(2026, 11, 27, 15, 59), at(2026, 11, 30, 15, 59), 1),
        # Friday after the cut-off and the weekend: accepted Monday, arrives Tuesday
        (at(2026, 11, 27, 16, 0), at(2026, 12, 1, 0), 2),
        (at(2026, 11, 28, 12), at(2026, 12, 1, 0), 2),
        # Christmas Eve: 25 and 26 December are TARGET closing days, then the weekend
        (at(2026, 12, 24, 10), at(2026, 12, 28, 10), 1),
        # Easter 2026: Good Friday 3 April and Easter Monday 6 April are closed
        (at(2026, 4, 2, 17), at(2026, 4, 8, 0), 2),
    ],
)
def test_sepa_sct_settles_in_business_days_after_its_cutoff(rails, submitted, settles, business_days):
    # given SEPA SCT's seeded hours (Mon–Fri, cut-off 16:00 Brussels, TARGET calendar)
    sct = rails.rails["sepa"]
    # when a payment is submitted at that moment (given in UTC, as the server clock is)
    estimate = settlement_estimate(sct, submitted.astimezone(ZoneInfo("UTC")))
    # then
    assert estimate.settles_at == settles
    assert estimate.business_days == business_days
    assert estimate.eta_seconds == int((settles - submitted).total_seconds())


def test_a_24x7_rail_ignores_the_clock(rails):
    instant = rails.rails["sepa_instant"]
    for moment in (at(*MONDAY, 10), at(2026, 11, 28, 3), at(2026, 12, 25, 23)):
        estimate = settlement_estimate(instant, moment)
        assert estimate.eta_seconds == 10 and estimate.business_days is None


def test_naive_times_are_refused(rails):
    with pytest.raises(ValueError, match="timezone-aware"):
        settlement_estimate(rails.rails["sepa"], datetime(2026, 11, 23, 10))


def test_target_closing_days_follow_easter():
    assert {date(2025, 4, 18), date(2025, 4, 21)} <= target_closing_days(2025)
    assert {date(2026, 4, 3), date(2026, 4, 6)} <= target_closing_days(2026)
    assert {date(2027, 3, 26), date(2027, 3, 29)} <= target_closing_days(2027)
    assert {date(2026, 1, 1), date(2026, 5, 1), date(2026, 12, 25), date(2026, 12, 26)} <= (
        target_closing_days(2026)
    )
    assert len(target_closing_days(2026)) == 6


def _large_sepa_payment(language: str = "en"):
    # above SCT Inst's 100,000 limit, so SCT competes with Wise and Stripe only
    return make_request(
        amount=Decimal("150000.00"),
        currency="EUR",
        payer_country="ES",
        payee_country="DE",
        payee_identifiers={"iban": "DE89370400440532013000"},
        language=language,
    )


def test_routing_eta_and_time_value_follow_the_cutoff(rails):
    # given the same payment submitted before and after Friday's cut-off
    before = route(_large_sepa_payment(), now=at(2026, 11, 27, 10))
    after = route(_large_sepa_payment(), now=at(2026, 11, 27, 17))
    # then SCT is chosen both times, but after the cut-off it arrives a business day later
    assert before.selected.rail == after.selected.rail == "sepa"
    early, late = before.selected.quote, after.selected.quote
    assert early.eta_business_days == 1 and late.eta_business_days == 2
    assert early.settles_at == at(2026, 11, 30, 10).isoformat()
    assert late.settles_at == at(2026, 12, 1, 0).isoformat()
    assert before.selected.eta_text == "by the next business day"
    assert after.selected.eta_text == "in 2 business days"
    assert "Arrives in 2 business days" in after.explanation
    # waiting costs money: the time value grows with the real settlement time
    assert late.time_value_cost > early.time_value_cost
    assert late.total_cost - late.time_value_cost == early.total_cost - early.time_value_cost
    # 24x7 rails are unaffected
    wise = {o.rail: o for o in after.ranked}["wise"]
    assert wise.quote.eta_seconds == 4 * 3600 and wise.quote.eta_business_days is None


def test_routing_is_deterministic_given_now(rails):
    moment = at(2026, 11, 28, 12)
    first = route(_large_sepa_payment("pt"), now=moment)
    again = route(_large_sepa_payment("pt"), now=moment)
    assert [o.to_dict() for o in first.ranked] == [o.to_dict() for o in again.ranked]
    assert first.explanation == again.explanation and "em 2 dias úteis" in first.explanation
