"""Rail health: probe each rail, fold in the last hour of observed outcomes, drive the circuit
breaker and the Prometheus gauges, and keep ``PaymentRailStatus`` rows for the admin and API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import structlog
from django.db.models import Avg, Count, Q
from django.utils import timezone

from apps.payments import conf
from apps.payments.circuit import CLOSED, OPEN, circuit_open, circuit_states
from apps.payments.metrics import payment_success_rate, rail_availability
from apps.payments.models import PaymentAttempt, PaymentRailStatus
from apps.payments.rails.registry import rail_adapter, rail_catalog, rail_catalog_invalidate

logger = structlog.get_logger(__name__)


def rail_health_refresh() -> list[dict[str, Any]]:
    """One health pass over every rail (the 30 s beat task)."""
    catalog = rail_catalog()
    since = timezone.now() - timedelta(hours=1)
    stats = {
        row["rail"]: row
        for row in PaymentAttempt.objects.filter(finished_at__gte=since)
        .exclude(status__in=["abandoned", "cancelled"])
        .values("rail")
        .annotate(total=Count("id"), failed=Count("id", filter=Q(status="failed")), latency=Avg("latency_ms"))
    }
    states_before = circuit_states(catalog.rails)
    report = []
    for name in catalog.rails:
        try:
            probe_ok = rail_adapter(name, catalog=catalog).health()
            probe_error = "" if probe_ok else "probe reported the provider down"
        except Exception as exc:  # a broken probe counts as down, never breaks the pass
            probe_ok, probe_error = False, str(exc)[:255]
        row = stats.get(name) or {"total": 0, "failed": 0, "latency": None}
        error_rate = (row["failed"] / row["total"]) if row["total"] else None
        unhealthy = not probe_ok or (
            error_rate is not None
            and row["total"] >= 10
            and error_rate >= conf.circuit_error_rate_threshold()
        )
        if unhealthy and states_before[name] == CLOSED:
            circuit_open(name)
        state = circuit_states([name])[name]
        available = probe_ok and state != OPEN
        status, _ = PaymentRailStatus.objects.get_or_create(rail_name=name)
        status.is_available = available
        status.circuit_state = state
        status.last_check_at = timezone.now()
        status.error_rate_1h = error_rate
        status.sample_size_1h = row["total"]
        status.avg_latency_ms = int(row["latency"]) if row["latency"] is not None else None
        status.last_error = probe_error
        status.save()
        rail_availability.labels(rail_name=name).set(1 if available else 0)
        if error_rate is not None:
            payment_success_rate.labels(rail=name).set(1 - error_rate)
        report.append({"rail": name, "available": available, "circuit": state, "error_rate_1h": error_rate})
    # routing reads success rates from the catalogue; let every process see the new ones
    rail_catalog_invalidate()
    return report
