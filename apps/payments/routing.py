"""Rail selection: filter by capabilities, limits, KYC and health; score by total cost,
speed, recent success and the user's weights. Pure and deterministic given its inputs
(catalogue snapshot, rate table, circuit states), so it runs in well under a millisecond."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from django.utils import timezone

from apps.core.exceptions import Unprocessable
from apps.payments import conf
from apps.payments.circuit import OPEN, circuit_states
from apps.payments.constants import KYC_ORDER
from apps.payments.explain import eta_text, explanation_build
from apps.payments.fx.base import FxUnavailable, RateTable
from apps.payments.fx.services import fx_rate, fx_table
from apps.payments.rails.base import RailCapabilities, quote_compute
from apps.payments.rails.registry import RailCatalog, rail_catalog
from apps.payments.types import PaymentRequest, Preferences, RailOption, RoutingDecision

if TYPE_CHECKING:
    from apps.payments.fx.services import FxLock

_SLOWEST = math.log10(4 * 86400)
URGENCIES = ("instant", "normal", "low")


class NoEligibleRail(Unprocessable):
    code = "no_eligible_rail"
    message = "No payment rail can carry this payment."


class InvalidPaymentRequest(Unprocessable):
    code = "invalid_payment_request"
    message = "The payment request is invalid."


def request_validate(request: PaymentRequest, *, table: RateTable) -> None:
    errors: dict[str, list[str]] = {}
    if request.amount <= 0:
        errors["amount"] = ["Must be greater than zero."]
    if request.amount.as_tuple().exponent < -4:  # type: ignore[operator]
        errors["amount"] = ["At most 4 decimal places."]
    for field_name in ("currency", "payee_currency"):
        value = getattr(request, field_name)
        try:
            table.per_eur(value)
        except FxUnavailable:
            errors[field_name] = [f"Unsupported currency {value}."]
    for field_name in ("payer_country", "payee_country"):
        value = getattr(request, field_name)
        if len(value) != 2 or not value.isalpha():
            errors[field_name] = ["An ISO 3166 alpha-2 country code."]
    if request.urgency not in URGENCIES:
        errors["urgency"] = [f"One of {', '.join(URGENCIES)}."]
    if errors:
        raise InvalidPaymentRequest(errors=errors)


def _exclusion(
    caps: RailCapabilities, request: PaymentRequest, *, kyc_tier: str, table: RateTable
) -> str | None:
    payee_cur = request.payee_currency or request.currency
    if request.currency not in caps.currencies:
        return "currency_not_supported"
    if payee_cur not in caps.payee_currencies:
        return "payee_currency_not_supported"
    if payee_cur != request.currency and not caps.cross_currency:
        return "no_currency_conversion"
    if caps.payer_countries and request.payer_country not in caps.payer_countries:
        return "payer_country_not_supported"
    if caps.payee_countries and request.payee_country not in caps.payee_countries:
        return "payee_country_not_supported"
    if caps.required_identifiers and not any(
        request.payee_identifiers.get(k) for k in caps.required_identifiers
    ):
        return "missing_payee_identifier:" + "|".join(caps.required_identifiers)
    in_limit_cur = request.amount * fx_rate(request.currency, caps.limit_currency, table=table)
    if in_limit_cur < caps.min_amount:
        return "below_minimum"
    if caps.max_amount is not None and in_limit_cur > caps.max_amount:
        return "above_maximum"
    if KYC_ORDER.get(kyc_tier, 0) < KYC_ORDER.get(caps.min_kyc_tier, 1):
        return f"kyc_tier_{caps.min_kyc_tier}_required"
    return None


def route(
    request: PaymentRequest,
    *,
    preferences: Preferences | None = None,
    kyc_tier: str = "basic",
    catalog: RailCatalog | None = None,
    table: RateTable | None = None,
    exclude: Iterable[str] = (),
    circuits: dict[str, str] | None = None,
    now: datetime | None = None,
    fx_lock: FxLock | None = None,
) -> RoutingDecision:
    """Choose a rail for ``request`` submitted at ``now`` (default: the current time; operating
    hours and cut-offs move ETAs). ``fx_lock`` prices the conversion at a locked rate.
    Raises ``NoEligibleRail`` (422) with the reasons."""
    moment = now or timezone.now()
    cat = catalog or rail_catalog()
    tab = table or fx_table()
    prefs = preferences or Preferences()
    request_validate(request, table=tab)
    excluded_names = set(exclude)
    states = circuits if circuits is not None else circuit_states(cat.enabled)
    annual = Decimal(str(conf.annual_rate_time_value()))

    candidates = []
    excluded: dict[str, str] = {}
    for name in cat.enabled:
        caps = cat.rails[name]
        if name in excluded_names:
            excluded[name] = "already_tried"
            continue
        if states.get(name) == OPEN:
            excluded[name] = "circuit_open"
            continue
        reason = _exclusion(caps, request, kyc_tier=kyc_tier, table=tab)
        if reason:
            excluded[name] = reason
            continue
        candidates.append(
            (caps, quote_compute(caps, request, table=tab, annual_rate=annual, now=moment, fx_lock=fx_lock))
        )
    if not candidates:
        raise NoEligibleRail(extra={"excluded": excluded})

    weight = min(max(prefs.cost_weight, 0.0), 1.0)
    if request.urgency == "instant":
        weight = min(weight, 0.3)
    elif request.urgency == "low":
        weight = max(weight, 0.9)
    floor = request.amount * Decimal("0.0001") + Decimal("0.01")
    cheapest = min(q.total_cost for _, q in candidates)
    options = []
    for caps, q in candidates:
        cost_score = float((cheapest + floor) / (q.total_cost + floor))
        speed_score = 1.0 - min(1.0, math.log10(max(q.eta_seconds, 1)) / _SLOWEST)
        success = cat.success_rate.get(caps.name, 1.0)
        score = (weight * cost_score + (1 - weight) * speed_score) * success
        notes = []
        if caps.name in prefs.preferred_rails:
            score += 0.05
            notes.append("preferred_by_user")
        if request.preferred_rail == caps.name:
            score += 1.0
            notes.append("requested")
        options.append(
            RailOption(
                rail=caps.name,
                display_name=caps.display_name,
                quote=q,
                score=round(score, 6),
                success_rate=success,
                eta_text=eta_text(q.eta_seconds, request.language, business_days=q.eta_business_days),
                reasons=tuple(notes),
            )
        )
    options.sort(key=lambda o: (-o.score, o.quote.total_cost, o.rail))
    text, data = explanation_build(
        options, language=request.language, preferred=request.preferred_rail == options[0].rail
    )
    return RoutingDecision(
        selected=options[0],
        alternatives=tuple(options[1:]),
        excluded=excluded,
        explanation=text,
        explanation_data=data,
    )
