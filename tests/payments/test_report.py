from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from apps.payments.report import routing_report, traffic_generate

pytestmark = pytest.mark.django_db


def test_traffic_is_deterministic_and_spans_corridors():
    a = traffic_generate(500, seed=3)
    b = traffic_generate(500, seed=3)
    assert [r.to_dict() for _, r in a] == [r.to_dict() for _, r in b]
    assert len({name for name, _ in a}) >= 8


def test_report_beats_single_rail_strategies(rails):
    r = routing_report(count=1500, seed=11)
    assert r.routed + r.unroutable == 1500 and r.routed > 1400
    # routing for cost alone can never be costlier than the default mix of cost and speed
    assert r.agentpay_cost_only_usd <= r.agentpay_cost_usd
    assert r.best_single_rail and r.single_rail[r.best_single_rail]["saving_pct"] >= 15
    assert r.agentpay_on_stripe_subset < r.stripe_cost_usd * Decimal("0.85")
    assert sum(r.rail_mix.values()) == r.routed


def test_command_prints_figures(rails):
    out = io.StringIO()
    call_command("routing_report", "--count", "300", stdout=out)
    text = out.getvalue()
    assert "vs best single rail" in text and "vs always Stripe" in text and "rail mix:" in text
