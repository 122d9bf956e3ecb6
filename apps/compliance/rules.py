"""AML / fraud rule evaluators. Rules are rows (``RiskRule``); each kind maps to a pure function here.

An evaluator gets the rule's params and a ``PaymentFacts`` snapshot (gathered
with a handful of queries by the decision service) and returns ``None`` or a
``(message, data)`` pair; the rule row supplies score, action and version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.compliance.choices import RuleKind

D = Decimal


@dataclass
class PaymentFacts:
    """Everything the rules look at, in USD where amounts are compared across currencies."""

    now: datetime
    amount: Decimal
    currency: str
    amount_usd: Decimal
    payer_ref: str
    payee_ref: str
    from_country: str
    to_country: str
    rail: str
    # payer's recent outgoing payments: (created_at, amount_usd, payee_ref)
    recent: list[tuple[datetime, Decimal, str]] = field(default_factory=list)
    # payer → payee history before this payment
    pair_count: int = 0
    pair_avg_usd: Decimal | None = None
    last_payment_at: datetime | None = None
    # money received by the payer in the rapid in-out window, in USD
    inbound_usd: Decimal = field(default_factory=Decimal)
    inbound_since: datetime | None = None


Evaluator = Callable[[dict[str, Any], PaymentFacts], tuple[str, dict[str, Any]] | None]


def _d(params: dict[str, Any], key: str, default: str) -> Decimal:
    return D(str(params.get(key, default)))


def amount_threshold(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    limit = _d(params, "amount_usd", "10000")
    if f.amount_usd >= limit:
        return (
            f"Amount of about {f.amount_usd:,.0f} USD reaches the {limit:,.0f} USD reporting threshold.",
            {"amount_usd": str(f.amount_usd), "threshold_usd": str(limit)},
        )
    return None


def velocity(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    minutes = int(params.get("window_minutes", 60))
    max_count = int(params.get("max_count", 5))
    max_sum = _d(params, "max_sum_usd", "20000")
    since = f.now - timedelta(minutes=minutes)
    window = [usd for at, usd, _ in f.recent if at >= since]
    count = len(window) + 1
    total = sum(window, D(0)) + f.amount_usd
    if count > max_count or total > max_sum:
        return (
            f"{count} payments totalling about {total:,.0f} USD in {minutes} minutes "
            f"(limits: {max_count} payments, {max_sum:,.0f} USD).",
            {"count": count, "sum_usd": str(total), "window_minutes": minutes},
        )
    return None


def structuring(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    threshold = _d(params, "threshold_usd", "10000")
    band = _d(params, "band", "0.15")
    hours = int(params.get("window_hours", 72))
    min_count = int(params.get("min_count", 3))
    floor = threshold * (1 - band)
    since = f.now - timedelta(hours=hours)

    def under(usd: Decimal) -> bool:
        return floor <= usd < threshold

    if not under(f.amount_usd):
        return None
    count = 1 + sum(1 for at, usd, _ in f.recent if at >= since and under(usd))
    if count >= min_count:
        return (
            f"{count} payments just under the {threshold:,.0f} USD threshold within {hours} hours.",
            {"count": count, "threshold_usd": str(threshold), "window_hours": hours},
        )
    return None


def new_counterparty_large(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    limit = _d(params, "amount_usd", "2000")
    if f.payee_ref and f.pair_count == 0 and f.amount_usd >= limit:
        return (
            f"First payment to this counterparty and large (about {f.amount_usd:,.0f} USD ≥ {limit:,.0f}).",
            {"amount_usd": str(f.amount_usd), "threshold_usd": str(limit)},
        )
    return None


def country_risk(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    countries = {c.upper() for c in params.get("countries", [])}
    corridors = {(a.upper(), b.upper()) for a, b in params.get("corridors", [])}
    involved = sorted(c for c in {f.from_country.upper(), f.to_country.upper()} if c in countries)
    corridor = (f.from_country.upper(), f.to_country.upper())
    if involved:
        return (f"High-risk country involved: {', '.join(involved)}.", {"countries": involved})
    if corridor in corridors:
        return (f"High-risk corridor {corridor[0]} → {corridor[1]}.", {"corridor": list(corridor)})
    return None


def amount_deviation(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    multiplier = _d(params, "multiplier", "5")
    min_history = int(params.get("min_history", 3))
    if f.pair_count < min_history or not f.pair_avg_usd:
        return None
    if f.amount_usd > f.pair_avg_usd * multiplier:
        ratio = f.amount_usd / f.pair_avg_usd
        return (
            f"Amount is {ratio:.1f}× the usual {f.pair_avg_usd:,.2f} USD paid to this counterparty.",
            {"usual_usd": str(f.pair_avg_usd.quantize(D("0.01"))), "ratio": float(round(ratio, 2))},
        )
    return None


def dormant_reactivation(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    days = int(params.get("dormant_days", 180))
    limit = _d(params, "amount_usd", "500")
    if f.last_payment_at is None or f.amount_usd < limit:
        return None
    idle = f.now - f.last_payment_at
    if idle >= timedelta(days=days):
        return (
            f"Account dormant for {idle.days} days now sends about {f.amount_usd:,.0f} USD.",
            {"idle_days": idle.days},
        )
    return None


def rapid_in_out(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    hours = int(params.get("window_hours", 24))
    ratio = _d(params, "ratio", "0.8")
    minimum = _d(params, "min_amount_usd", "1000")
    if f.inbound_usd < minimum:
        return None
    since = f.now - timedelta(hours=hours)
    out = sum((usd for at, usd, _ in f.recent if at >= since), D(0)) + f.amount_usd
    if out >= f.inbound_usd * ratio:
        return (
            f"About {out:,.0f} USD sent out within {hours} hours of receiving {f.inbound_usd:,.0f} USD.",
            {"inbound_usd": str(f.inbound_usd), "outbound_usd": str(out), "window_hours": hours},
        )
    return None


EVALUATORS: dict[str, Evaluator] = {
    RuleKind.AMOUNT_THRESHOLD: amount_threshold,
    RuleKind.VELOCITY: velocity,
    RuleKind.STRUCTURING: structuring,
    RuleKind.NEW_COUNTERPARTY_LARGE: new_counterparty_large,
    RuleKind.COUNTRY_RISK: country_risk,
    RuleKind.AMOUNT_DEVIATION: amount_deviation,
    RuleKind.DORMANT_REACTIVATION: dormant_reactivation,
    RuleKind.RAPID_IN_OUT: rapid_in_out,
}

# The rule set a fresh installation starts with (seeded by migration 0002, editable in the admin).
DEFAULT_RULES: list[dict[str, Any]] = [
    {
        "code": "large-amount",
        "name": "Amount at or above the reporting threshold",
        "kind": RuleKind.AMOUNT_THRESHOLD,
        "params": {"amount_usd": "10000"},
        "score": 50,
        "action": "review",
    },
    {
        "code": "velocity-1h",
        "name": "Many payments or a large sum within an hour",
        "kind": RuleKind.VELOCITY,
        "params": {"window_minutes": 60, "max_count": 10, "max_sum_usd": "25000"},
        "score": 40,
        "action": "score",
    },
    {
        "code": "structuring-72h",
        "name": "Several payments just under the reporting threshold",
        "kind": RuleKind.STRUCTURING,
        "params": {"threshold_usd": "10000", "band": "0.15", "window_hours": 72, "min_count": 3},
        "score": 60,
        "action": "review",
    },
    {
        "code": "new-counterparty-large",
        "name": "New counterparty with a large amount",
        "kind": RuleKind.NEW_COUNTERPARTY_LARGE,
        "params": {"amount_usd": "3000"},
        "score": 30,
        "action": "score",
    },
    {
        "code": "fatf-blacklist",
        "name": "FATF call-for-action jurisdictions",
        "kind": RuleKind.COUNTRY_RISK,
        "params": {"countries": ["KP", "IR", "MM"], "corridors": []},
        "score": 100,
        "action": "block",
    },
    {
        "code": "high-risk-corridor",
        "name": "Jurisdictions under increased monitoring",
        "kind": RuleKind.COUNTRY_RISK,
        "params": {"countries": ["SY", "YE", "SS", "VE", "HT", "LB", "NG", "ZA", "VN"], "corridors": []},
        "score": 40,
        "action": "score",
    },
    {
        "code": "amount-deviation",
        "name": "Far above the usual amount for this counterparty",
        "kind": RuleKind.AMOUNT_DEVIATION,
        "params": {"multiplier": "5", "min_history": 3},
        "score": 35,
        "action": "score",
    },
    {
        "code": "dormant-reactivation",
        "name": "Dormant account suddenly active",
        "kind": RuleKind.DORMANT_REACTIVATION,
        "params": {"dormant_days": 180, "amount_usd": "500"},
        "score": 30,
        "action": "score",
    },
    {
        "code": "rapid-in-out",
        "name": "Money sent out right after it came in",
        "kind": RuleKind.RAPID_IN_OUT,
        "params": {"window_hours": 24, "ratio": "0.8", "min_amount_usd": "1000"},
        "score": 50,
        "action": "review",
    },
]

# Limits by KYC tier in USD equivalent (any rail, any currency); organisations add their own rows.
DEFAULT_LIMITS: list[dict[str, Any]] = [
    {"tier": "none", "per_transaction": "3000", "daily": "5000", "monthly": "10000"},
    {"tier": "basic", "per_transaction": "15000", "daily": "30000", "monthly": "100000"},
    {"tier": "full", "per_transaction": "250000", "daily": "500000", "monthly": "2000000"},
]
