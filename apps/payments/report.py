"""The routing report: AgentPay's routing against single-rail strategies over generated traffic."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from apps.payments.fx.services import fx_rate, fx_table
from apps.payments.rails.registry import rail_catalog
from apps.payments.routing import NoEligibleRail, route
from apps.payments.types import PaymentRequest, Preferences

# (name, share, payer country, payee country, currency, payee currency, median amount, identifiers offered)
CORRIDORS: list[tuple[str, float, list[str], list[str], str, str, float, dict[str, float]]] = [
    ("BR domestic BRL", 0.28, ["BR"], ["BR"], "BRL", "BRL", 120, {"pix_key": 0.92, "email": 0.5}),
    (
        "SEPA EUR",
        0.18,
        ["ES", "PT", "DE", "FR", "IT", "NL"],
        ["ES", "PT", "DE", "FR", "IT", "NL"],
        "EUR",
        "EUR",
        250,
        {"iban": 0.95, "email": 0.4},
    ),
    (
        "AU domestic AUD",
        0.08,
        ["AU"],
        ["AU"],
        "AUD",
        "AUD",
        180,
        {"payid": 0.7, "bsb_account": 0.3, "email": 0.3},
    ),
    ("US domestic USD", 0.10, ["US"], ["US"], "USD", "USD", 90, {"email": 0.6, "eth_address": 0.1}),
    (
        "US→BR USD→BRL",
        0.14,
        ["US"],
        ["BR"],
        "USD",
        "BRL",
        600,
        {"pix_key": 0.7, "email": 0.6, "eth_address": 0.3},
    ),
    ("US→MX USD→MXN", 0.06, ["US"], ["MX"], "USD", "MXN", 400, {"email": 0.6, "eth_address": 0.25}),
    ("UK→EU GBP→EUR", 0.06, ["GB"], ["ES", "DE", "FR", "PT"], "GBP", "EUR", 500, {"iban": 0.9, "email": 0.5}),
    (
        "EU→US EUR→USD",
        0.05,
        ["DE", "FR", "ES"],
        ["US"],
        "EUR",
        "USD",
        700,
        {"email": 0.7, "eth_address": 0.1},
    ),
    ("BR→PT BRL→EUR", 0.05, ["BR"], ["PT"], "BRL", "EUR", 1500, {"iban": 0.8, "email": 0.6}),
]
KYC = (("none", 0.3), ("basic", 0.5), ("full", 0.2))
USD = "USD"
# Requests are submitted at random moments of one ordinary week (no TARGET closing day), so
# cut-offs and weekends weigh in as in real traffic and a seed always gives the same report.
REPORT_WEEK_START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday


def traffic_generate(count: int, *, seed: int = 7) -> list[tuple[str, PaymentRequest]]:
    """Deterministic, realistic requests: log-normal amounts around each corridor's median."""
    rng = random.Random(seed)  # noqa: S311 - simulation
    shares = [c[1] for c in CORRIDORS]
    out = []
    for _ in range(count):
        name, _, payers, payees, cur, payee_cur, median, ids = rng.choices(CORRIDORS, weights=shares)[0]
        amount = Decimal(str(round(median * rng.lognormvariate(0, 1.0), 2))).max(Decimal("1.00"))
        identifiers = {k: f"{k}-value" for k, p in ids.items() if rng.random() < p}
        urgency = rng.choices(("instant", "normal", "low"), weights=(0.15, 0.75, 0.10))[0]
        tier = rng.choices([k for k, _ in KYC], weights=[w for _, w in KYC])[0]
        out.append(
            (
                name,
                PaymentRequest(
                    amount=amount,
                    currency=cur,
                    payee_currency=payee_cur,
                    payer_country=rng.choice(payers),
                    payee_country=rng.choice(payees),
                    urgency=urgency,
                    payee_identifiers=identifiers,
                    kyc_tier=tier,
                ),
            )
        )
    return out


@dataclass
class ReportResult:
    requests: int
    routed: int
    unroutable: int
    agentpay_cost_usd: Decimal
    agentpay_cost_only_usd: Decimal
    stripe_cost_usd: Decimal  # AgentPay on the same requests is agentpay_on_stripe_subset
    agentpay_on_stripe_subset: Decimal
    stripe_coverage: int
    single_rail: dict[str, dict[str, Any]]
    best_single_rail: str
    by_corridor: dict[str, dict[str, Any]]
    rail_mix: dict[str, int]


def routing_report(
    *, count: int = 10_000, seed: int = 7, week_start: datetime = REPORT_WEEK_START
) -> ReportResult:
    catalog = rail_catalog()
    clock = random.Random(seed)  # noqa: S311 - simulation
    table = fx_table()
    circuits: dict[str, str] = {}
    cost_only = Preferences(cost_weight=1.0)
    to_usd_cache: dict[str, Decimal] = {}

    def usd(value: Decimal, currency: str) -> Decimal:
        if currency not in to_usd_cache:
            to_usd_cache[currency] = fx_rate(currency, USD, table=table)
        return value * to_usd_cache[currency]

    agentpay = agentpay_cost_only = Decimal(0)
    single_cost: dict[str, Decimal] = defaultdict(Decimal)
    single_agentpay: dict[str, Decimal] = defaultdict(Decimal)
    single_count: dict[str, int] = defaultdict(int)
    corridor: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"n": 0, "agentpay": Decimal(0), "stripe": Decimal(0), "stripe_n": 0}
    )
    mix: dict[str, int] = defaultdict(int)
    routed = unroutable = 0
    traffic = traffic_generate(count, seed=seed)
    for name, req in traffic:
        try:
            decision = route(
                req,
                kyc_tier=req.kyc_tier or "basic",
                catalog=catalog,
                table=table,
                circuits=circuits,
                now=week_start + timedelta(seconds=clock.uniform(0, 7 * 86400)),
            )
        except NoEligibleRail:
            unroutable += 1
            continue
        routed += 1
        chosen = usd(decision.selected.quote.total_cost, req.currency)
        cheapest = min(usd(o.quote.total_cost, req.currency) for o in decision.ranked)
        agentpay += chosen
        agentpay_cost_only += cheapest
        mix[decision.selected.rail] += 1
        c = corridor[name]
        c["n"] += 1
        c["agentpay"] += chosen
        for option in decision.ranked:
            cost = usd(option.quote.total_cost, req.currency)
            single_cost[option.rail] += cost
            single_agentpay[option.rail] += chosen
            single_count[option.rail] += 1
            if option.rail == "stripe":
                c["stripe"] += cost
                c["stripe_n"] += 1
    del cost_only
    single: dict[str, dict[str, Any]] = {
        rail: {
            "coverage": single_count[rail],
            "coverage_pct": round(100 * single_count[rail] / max(routed, 1), 1),
            "cost_usd": single_cost[rail].quantize(Decimal("0.01")),
            "agentpay_same_requests_usd": single_agentpay[rail].quantize(Decimal("0.01")),
            "saving_pct": float(100 * (1 - single_agentpay[rail] / single_cost[rail]))
            if single_cost[rail]
            else 0.0,
        }
        for rail in catalog.rails
        if single_count[rail]
    }
    # the best single rail a business could integrate alone: covering at least half the traffic, cheapest per payment
    broad = {r: s for r, s in single.items() if s["coverage"] >= routed / 2}
    best = min(broad, key=lambda r: single[r]["cost_usd"] / single[r]["coverage"]) if broad else ""
    return ReportResult(
        requests=count,
        routed=routed,
        unroutable=unroutable,
        agentpay_cost_usd=agentpay.quantize(Decimal("0.01")),
        agentpay_cost_only_usd=agentpay_cost_only.quantize(Decimal("0.01")),
        stripe_cost_usd=single_cost["stripe"].quantize(Decimal("0.01")),
        agentpay_on_stripe_subset=single_agentpay["stripe"].quantize(Decimal("0.01")),
        stripe_coverage=single_count["stripe"],
        single_rail=single,
        best_single_rail=best,
        by_corridor={
            k: {
                "n": v["n"],
                "agentpay_usd": v["agentpay"].quantize(Decimal("0.01")),
                "stripe_usd": v["stripe"].quantize(Decimal("0.01")),
                "stripe_n": v["stripe_n"],
            }
            for k, v in corridor.items()
        },
        rail_mix=dict(sorted(mix.items(), key=lambda kv: -kv[1])),
    )
