from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.core.models import Organization
from apps.payments.filters import PaymentFilter
from apps.payments.models import OrchestrationPayment, PaymentRailStatus, UserPreferences


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
