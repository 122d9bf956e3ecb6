"""``manage.py routing_report``: AgentPay routing vs the best single rail vs always Stripe."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from apps.payments.report import routing_report


class Command(BaseCommand):
    help = "Route generated realistic traffic and compare total cost with single-rail strategies."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--count", type=int, default=10_000)
        parser.add_argument("--seed", type=int, default=7)

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.perf_counter()
        r = routing_report(count=options["count"], seed=options["seed"])
        elapsed = time.perf_counter() - started
        out = self.stdout.write
        out(
            f"routing_report: {r.requests} generated requests, {r.routed} routable, {r.unroutable} without any rail"
        )
        out(
            f"routing time: {elapsed:.2f} s ({1000 * elapsed / max(r.requests, 1):.3f} ms per request incl. generation)"
        )
        out("total cost = fees + FX spread + time value of money, in USD at the ECB reference rates")
        out(f"  AgentPay (default weights, cost 0.7 / speed 0.3): {r.agentpay_cost_usd:>14,}")
        out(f"  AgentPay (cost-only weights):                     {r.agentpay_cost_only_usd:>14,}")
        out("")
        out(f"{'single rail':<14}{'coverage':>10}{'rail cost':>16}{'AgentPay same':>16}{'saving':>9}")
        for rail, s in sorted(r.single_rail.items(), key=lambda kv: -kv[1]["coverage"]):
            out(
                f"{rail:<14}{s['coverage_pct']:>9}%{s['cost_usd']:>16,}{s['agentpay_same_requests_usd']:>16,}"
                f"{s['saving_pct']:>8.1f}%"
            )
        best = r.single_rail.get(r.best_single_rail)
        if best:
            out("")
            out(
                f"vs best single rail ({r.best_single_rail}, on the {best['coverage']} requests it can carry): "
                f"AgentPay is {best['saving_pct']:.1f}% cheaper (target >= 15%)"
            )
        if r.stripe_coverage:
            saving = 100 * (1 - r.agentpay_on_stripe_subset / r.stripe_cost_usd)
            out(
                f"vs always Stripe (on the {r.stripe_coverage} requests Stripe can carry): AgentPay is {saving:.1f}% cheaper"
            )
        out("")
        out(f"{'corridor':<18}{'n':>7}{'AgentPay USD':>16}{'Stripe USD':>16}")
        for name, c in r.by_corridor.items():
            out(f"{name:<18}{c['n']:>7}{c['agentpay_usd']:>16,}{c['stripe_usd']:>16,}")
        out("rail mix: " + ", ".join(f"{k} {v}" for k, v in r.rail_mix.items()))
