from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from apps.core.models import Organization
from apps.payments.filters import PaymentFilter
from apps.payments.models import (
    OrchestrationPayment,
    PaymentAttempt,
    PaymentEvent,
    PaymentRailStatus,
    PaymentRefund,
    UserPreferences,
)


def payment_list(
    *, organization: Organization, filters: dict[str, Any] | None = None
) -> QuerySet[OrchestrationPayment]:
    qs = OrchestrationPayment.objects.filter(organization=organization)
    if not filters:  # the API's filter backend applies the query string itself
        return qs
    return PaymentFilter(filters, queryset=qs).qs


def payment_get(*, organization: Organization, payment_id: Any) -> OrchestrationPayment | None:
    return OrchestrationPayment.objects.filter(organization=organization, pk=payment_id).first()


def payment_detail_get(*, organization: Organization, payment_id: Any) -> OrchestrationPayment | None:
    return (
        OrchestrationPayment.objects.filter(organization=organization, pk=payment_id)
        .prefetch_related("events", "rail_attempts", "refunds")
        .first()
    )


def payment_detail_from_memory(
    payment: OrchestrationPayment,
    *,
    events: list[PaymentEvent],
    attempts: list[PaymentAttempt],
    refunds: list[PaymentRefund] | None = None,
) -> OrchestrationPayment:
    """``payment`` ready for ``PaymentDetailSerializer`` without reading it back: the related
    rows its service just wrote stand in for the prefetch, and JSON values are given the shape
    the database would answer with, so the body is the one ``payment_detail_get`` gives.

    ``events``, ``attempts`` and ``refunds`` must be every such row of the payment, in the
    models' order (a new payment: what its service wrote in this transaction).
    """
    vendor = connection.vendor
    for name in ("alternative_rails", "cost_breakdown", "metadata"):
        setattr(payment, name, json_as_stored(getattr(payment, name), vendor))
    for event in events:
        event.data = json_as_stored(event.data, vendor)
    payment._prefetched_objects_cache = {  # type: ignore[attr-defined]
        "events": list(events),
        "rail_attempts": list(attempts),
        "refunds": list(refunds or ()),
    }
    return payment


def json_as_stored(value: Any, vendor: str) -> Any:
    """A JSON field's value as read back from the database after saving it.

    SQLite keeps JSON text as written. PostgreSQL's ``jsonb`` keeps neither key order nor number
    spelling: object keys come back shortest first, then bytewise; numbers are ``numeric`` and
    are printed without exponent (so ``1e+16`` comes back as the integer 10000000000000000).
    """
    plain = json.loads(json.dumps(value))  # tuples → lists, keys → strings, as any backend stores them
    if vendor != "postgresql":
        return plain
    return _jsonb_shape(plain)


def _jsonb_shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonb_shape(value[k]) for k in sorted(value, key=lambda k: (len(k.encode()), k.encode()))}
    if isinstance(value, list):
        return [_jsonb_shape(v) for v in value]
    if isinstance(value, float):
        if value == 0:
            return 0.0  # numeric has no negative zero
        text = repr(value)
        if "e" in text or "E" in text:
            return json.loads(format(Decimal(text), "f"))
    return value


def rail_status_map() -> dict[str, PaymentRailStatus]:
    return {s.rail_name: s for s in PaymentRailStatus.objects.all()}


def rail_summaries() -> list[dict[str, Any]]:
    from apps.payments.rails.registry import rail_catalog

    catalog = rail_catalog()
    statuses = rail_status_map()
    return [
        {
            "name": name,
            "display_name": caps.display_name,
            "description": caps.description,
            "enabled": name in catalog.enabled,
            "settlement_seconds": caps.settlement_seconds,
            "status": statuses.get(name),
        }
        for name, caps in catalog.rails.items()
    ]


def user_preferences_get(*, user: Any) -> dict[str, Any]:
    row = UserPreferences.objects.filter(user=user).first()
    if row is None:
        return {"preferred_rails": [], "cost_weight": 0.7, "default_currency": ""}
    return {
        "preferred_rails": list(row.preferred_rails or []),
        "cost_weight": row.cost_weight,
        "default_currency": row.default_currency,
    }
