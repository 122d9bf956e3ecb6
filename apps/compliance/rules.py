"""AML / fraud rule evaluators. Rules are rows (``RiskRule``); each kind maps to a pure function here.

An evaluator gets the rule's params and a ``PaymentFacts`` snapshot (gathered
with a handful of queries by the decision service) and returns ``None`` or a
``(message, data)`` pair; the rule row supplies score, action and version.
``PARAMS`` declares every kind's parameters with their defaults: rules are
validated against it when saved, and the decision service reads history as far
back as the active rules' windows reach (``history_lookback``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
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
    # payer's outgoing payments as far back as the rules' windows reach, newest first:
    # (created_at, amount_usd, payee_ref)
    recent: list[tuple[datetime, Decimal, str]] = field(default_factory=list)
    # payer → payee history before this payment
    pair_count: int = 0
    pair_avg_usd: Decimal | None = None
    last_payment_at: datetime | None = None
    # money received by the payer as far back as the rapid in-out windows reach: (created_at, amount_usd)
    inbound: list[tuple[datetime, Decimal]] = field(default_factory=list)


Evaluator = Callable[[dict[str, Any], PaymentFacts], tuple[str, dict[str, Any]] | None]

# kind -> {param: (type, default)}; types: int (≥ 1), decimal (≥ 0), ratio (0 < x ≤ 1),
# multiplier (> 0), countries (ISO alpha-2 list), corridors ([[from, to], ...]).
PARAMS: dict[str, dict[str, tuple[str, Any]]] = {
    RuleKind.AMOUNT_THRESHOLD: {"amount_usd": ("decimal", "10000")},
    RuleKind.VELOCITY: {
        "window_minutes": ("int", 60),
        "max_count": ("int", 5),
        "max_sum_usd": ("decimal", "20000"),
    },
    RuleKind.STRUCTURING: {
        "threshold_usd": ("decimal", "10000"),
        "band": ("ratio", "0.15"),
        "window_hours": ("int", 72),
        "min_count": ("int", 3),
    },
    RuleKind.NEW_COUNTERPARTY_LARGE: {"amount_usd": ("decimal", "2000")},
    RuleKind.COUNTRY_RISK: {"countries": ("countries", []), "corridors": ("corridors", [])},
    RuleKind.AMOUNT_DEVIATION: {"multiplier": ("multiplier", "5"), "min_history": ("int", 3)},
    RuleKind.DORMANT_REACTIVATION: {"dormant_days": ("int", 180), "amount_usd": ("decimal", "500")},
    RuleKind.RAPID_IN_OUT: {
        "window_hours": ("int", 24),
        "ratio": ("ratio", "0.8"),
        "min_amount_usd": ("decimal", "1000"),
    },
}


class RuleParamsError(ValueError):
    """A rule's params do not fit its kind; ``errors`` maps each param to what is wrong."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))


def _country(value: Any) -> str | None:
    text = str(value).strip().upper()
    return text if len(text) == 2 and text.isalpha() else None


_MUST = {
    "int": "a whole number of at least 1",
    "decimal": 'a decimal of at least 0, written as a string ("2500.00")',
    "ratio": 'a decimal above 0 and at most 1, written as a string ("0.8")',
    "multiplier": 'a decimal above 0, written as a string ("5")',
    "countries": "a list of ISO 3166 alpha-2 country codes",
    "corridors": "a list of [from, to] pairs of ISO 3166 alpha-2 country codes",
}


def _number(value: Any, *, whole: bool = False) -> Decimal | None:
    # Floats are refused for amounts (Money is Decimal); whole numbers may be JSON integers.
    if isinstance(value, bool) or (isinstance(value, float) and not whole):
        return None
    try:
        number = D(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _check(kind: str, value: Any) -> Any:
    """The normalised value, or ``None`` when it does not fit ``kind``."""
    if kind == "int":
        number = _number(value, whole=True)
        return int(number) if number is not None and number == int(number) and number >= 1 else None
    if kind in ("decimal", "ratio", "multiplier"):
        number = _number(value)
        ok = number is not None and {
            "decimal": lambda n: n >= 0,
            "ratio": lambda n: 0 < n <= 1,
            "multiplier": lambda n: n > 0,
        }[kind](number)
        return str(number) if ok else None
    if kind == "countries":
        codes = [_country(c) for c in value] if isinstance(value, list) else [None]
        return None if None in codes else codes
    pairs = []
    for pair in value if isinstance(value, list) else [None]:
        codes = [_country(c) for c in pair] if isinstance(pair, list) and len(pair) == 2 else [None]
        if None in codes:
            return None
        pairs.append(codes)
    return pairs


def rule_params_validate(kind: str, params: Any) -> dict[str, Any]:
    """Check ``params`` against the kind's declaration; returns them normalised (defaults not filled in).

    Unknown names are refused: a misspelt window would otherwise fall back to its default unnoticed.
    """
    spec = PARAMS.get(kind)
    if spec is None:
        raise RuleParamsError({"kind": f"unknown rule kind {kind!r}"})
    if not isinstance(params, dict):
        raise RuleParamsError({"params": "an object of parameter names to values"})
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name not in spec:
            errors[name] = f"unknown parameter; {kind} takes {', '.join(sorted(spec))}"
            continue
        checked = _check(spec[name][0], value)
        if checked is None:
            errors[name] = f"must be {_MUST[spec[name][0]]}"
        else:
            out[name] = checked
    if errors:
        raise RuleParamsError(errors)
    return out


def _p(params: dict[str, Any], kind: str, name: str) -> Any:
    return params.get(name, PARAMS[kind][name][1])


def _d(params: dict[str, Any], kind: str, name: str) -> Decimal:
    return D(str(_p(params, kind, name)))


def _i(params: dict[str, Any], kind: str, name: str) -> int:
    return int(_p(params, kind, name))


def history_lookback(rules: list[Any]) -> tuple[timedelta, timedelta]:
    """How far back the rules need the payer's outgoing payments and the money it received."""
    outgoing = inbound = timedelta(0)
    for rule in rules:
        params = rule.params or {}
        if rule.kind == RuleKind.VELOCITY:
            outgoing = max(outgoing, timedelta(minutes=_i(params, rule.kind, "window_minutes")))
        elif rule.kind == RuleKind.STRUCTURING:
            outgoing = max(outgoing, timedelta(hours=_i(params, rule.kind, "window_hours")))
        elif rule.kind == RuleKind.RAPID_IN_OUT:
            window = timedelta(hours=_i(params, rule.kind, "window_hours"))
            outgoing, inbound = max(outgoing, window), max(inbound, window)
    return outgoing, inbound


def amount_threshold(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    limit = _d(params, RuleKind.AMOUNT_THRESHOLD, "amount_usd")
    if f.amount_usd >= limit:
        return (
            f"Amount of about {f.amount_usd:,.0f} USD reaches the {limit:,.0f} USD reporting threshold.",
            {"amount_usd": str(f.amount_usd), "threshold_usd": str(limit)},
        )
    return None


def velocity(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    kind = RuleKind.VELOCITY
    minutes = _i(params, kind, "window_minutes")
    max_count = _i(params, kind, "max_count")
    max_sum = _d(params, kind, "max_sum_usd")
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
    kind = RuleKind.STRUCTURING
    threshold = _d(params, kind, "threshold_usd")
    band = _d(params, kind, "band")
    hours = _i(params, kind, "window_hours")
    min_count = _i(params, kind, "min_count")
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
    limit = _d(params, RuleKind.NEW_COUNTERPARTY_LARGE, "amount_usd")
    if f.payee_ref and f.pair_count == 0 and f.amount_usd >= limit:
        return (
            f"First payment to this counterparty and large (about {f.amount_usd:,.0f} USD ≥ {limit:,.0f}).",
            {"amount_usd": str(f.amount_usd), "threshold_usd": str(limit)},
        )
    return None


def country_risk(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    countries = {str(c).upper() for c in _p(params, RuleKind.COUNTRY_RISK, "countries")}
    corridors = {(str(a).upper(), str(b).upper()) for a, b in _p(params, RuleKind.COUNTRY_RISK, "corridors")}
    involved = sorted(c for c in {f.from_country.upper(), f.to_country.upper()} if c in countries)
    corridor = (f.from_country.upper(), f.to_country.upper())
    if involved:
        return (f"High-risk country involved: {', '.join(involved)}.", {"countries": involved})
    if corridor in corridors:
        return (f"High-risk corridor {corridor[0]} → {corridor[1]}.", {"corridor": list(corridor)})
    return None


def amount_deviation(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    multiplier = _d(params, RuleKind.AMOUNT_DEVIATION, "multiplier")
    min_history = _i(params, RuleKind.AMOUNT_DEVIATION, "min_history")
    if f.pair_count < min_history or not f.pair_avg_usd:
        return None
    if f.amount_usd > f.pair_avg_usd * multiplier:
        ratio = f.amount_usd / f.pair_avg_usd
        return (
            f"Amount is {ratio:.1f}× the usual {f.pair_avg_usd:,.2f} USD paid to this counterparty.",
            {"usual_usd": str(f.pair_avg_usd.quantize(D("0.01"))), "ratio": str(round(ratio, 2))},
        )
    return None


def dormant_reactivation(params: dict[str, Any], f: PaymentFacts) -> tuple[str, dict[str, Any]] | None:
    days = _i(params, RuleKind.DORMANT_REACTIVATION, "dormant_days")
    limit = _d(params, RuleKind.DORMANT_REACTIVATION, "amount_usd")
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
    """Money received within the window, then at least ``ratio`` of it sent out since it first arrived."""
    kind = RuleKind.RAPID_IN_OUT
    hours = _i(params, kind, "window_hours")
    ratio = _d(params, kind, "ratio")
    minimum = _d(params, kind, "min_amount_usd")
    since = f.now - timedelta(hours=hours)
    received = [(at, usd) for at, usd in f.inbound if at >= since]
    inbound = sum((usd for _, usd in received), D(0))
    if not received or inbound < minimum:
        return None
    first_in = min(at for at, _ in received)
    out = sum((usd for at, usd, _ in f.recent if at >= first_in), D(0)) + f.amount_usd
    if out >= inbound * ratio:
        return (
            f"About {out:,.0f} USD sent out within {hours} hours of receiving {inbound:,.0f} USD.",
            {"inbound_usd": str(inbound), "outbound_usd": str(out), "window_hours": hours},
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
