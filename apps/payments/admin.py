"""The payments console: payments with their costs, alternatives and timeline; rails as data."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from apps.core.exceptions import ApplicationError
from apps.payments import services
from apps.payments.circuit import circuit_reset, circuit_states
from apps.payments.models import (
    FxRateSnapshot,
    IdempotencyRecord,
    OrchestrationPayment,
    OutboxMessage,
    PaymentAttempt,
    PaymentEvent,
    PaymentRailStatus,
    PaymentRefund,
    RailDefinition,
    RailFeeSchedule,
    RailWebhookEvent,
    UserPreferences,
)
from apps.payments.rails.registry import rail_catalog_invalidate


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PaymentEventInline(ReadOnlyInline):
    model = PaymentEvent
    fields = ("created_at", "from_status", "to_status", "actor", "reason", "data")
    readonly_fields = fields
    ordering = ("created_at", "id")


class PaymentAttemptInline(ReadOnlyInline):
    model = PaymentAttempt
    fields = ("number", "rail", "status", "external_id", "error", "latency_ms", "initiated_at", "finished_at")
    readonly_fields = fields


class PaymentRefundInline(ReadOnlyInline):
    model = PaymentRefund
    fields = (
        "created_at",
        "status",
        "amount",
        "rail",
        "reason",
        "requested_by",
        "external_id",
        "failure_reason",
    )
    readonly_fields = fields


class AmountRangeFilter(admin.SimpleListFilter):
    title = "amount"
    parameter_name = "amount_range"
    RANGES = {"lt100": (None, 100), "100-1k": (100, 1000), "1k-10k": (1000, 10000), "gte10k": (10000, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("lt100", "< 100"),
            ("100-1k", "100 – 1,000"),
            ("1k-10k", "1,000 – 10,000"),
            ("gte10k", "≥ 10,000"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        bounds = self.RANGES.get(str(self.value()))
        if not bounds:
            return queryset
        lo, hi = bounds
        if lo is not None:
            queryset = queryset.filter(amount__gte=lo)
        if hi is not None:
            queryset = queryset.filter(amount__lt=hi)
        return queryset


def _act_on_each(
    model_admin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any], done_text: str, fn: Any
) -> None:
    """Run one service per selected row; a domain error is a warning for that row, not a crash."""
    done = 0
    for obj in queryset:
        try:
            fn(obj)
            done += 1
        except ApplicationError as exc:
            model_admin.message_user(request, f"{obj.pk}: {exc.message}", messages.WARNING)
    if done:
        model_admin.message_user(request, done_text.format(done), messages.SUCCESS)


def _pretty(value: Any) -> str:
    return format_html(
        "<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False)
    )


@admin.register(OrchestrationPayment)
class OrchestrationPaymentAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "created_at",
        "organization",
        "amount",
        "payee_name",
        "selected_rail",
        "status",
        "attempts",
    )
    list_filter = ("status", "selected_rail", "amount_currency", AmountRangeFilter, "created_at")
    date_hierarchy = "created_at"
    search_fields = ("=id", "payee_name", "payee_ref", "payer_ref", "external_payment_id")
    list_select_related = ("organization",)
    raw_id_fields = (
        "organization",
        "conversation",
        "conversation_message",
        "created_by",
        "created_by_api_key",
    )
    inlines = [PaymentAttemptInline, PaymentRefundInline, PaymentEventInline]
    actions = ["retry_selected", "cancel_selected", "fallback_selected", "refund_selected"]
    show_full_result_count = False
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "id",
                    "organization",
                    "status",
                    "amount",
                    "payee_currency",
                    "selected_rail",
                    "external_payment_id",
                    "attempts",
                    "failure_reason",
                )
            },
        ),
        (
            "Parties",
            {
                "fields": (
                    "from_country",
                    "to_country",
                    "payer_ref",
                    "payee_ref",
                    "payee_name",
                    "payee_identifiers",
                    "purpose",
                    "urgency",
                )
            },
        ),
        ("Why this rail", {"fields": ("explanation", "cost_breakdown_view", "alternatives_view")}),
        (
            "Links",
            {
                "fields": (
                    "conversation",
                    "conversation_message",
                    "created_by",
                    "created_by_api_key",
                    "idempotency_key",
                    "metadata_view",
                    "created_at",
                    "updated_at",
                    "completed_at",
                )
            },
        ),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # money and status never change here: staff act through the actions below (services)
        return [f.name for f in self.model._meta.fields] + [
            "cost_breakdown_view",
            "alternatives_view",
            "metadata_view",
        ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="cost breakdown")
    def cost_breakdown_view(self, obj: OrchestrationPayment) -> str:
        return _pretty(obj.cost_breakdown)

    @admin.display(description="ranked alternatives")
    def alternatives_view(self, obj: OrchestrationPayment) -> str:
        rows = [
            {
                "rail": a.get("rail"),
                "score": a.get("score"),
                "total_cost": a.get("quote", {}).get("total_cost"),
                "eta": a.get("eta_text"),
            }
            for a in obj.alternative_rails or []
        ]
        return _pretty(rows)

    @admin.display(description="metadata")
    def metadata_view(self, obj: OrchestrationPayment) -> str:
        return _pretty(obj.metadata)

    def _each(self, request: HttpRequest, queryset: QuerySet[Any], label: str, fn: Any) -> None:
        _act_on_each(self, request, queryset, f"{label}: {{}} payment(s).", fn)

    @admin.action(description="Retry failed payments on the best rail now", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            "Retried",
            lambda p: services.payment_retry(payment=p, actor=request.user, reason="admin retry"),
        )

    @admin.action(description="Cancel selected payments", permissions=["change"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            "Cancelled",
            lambda p: services.payment_cancel(payment=p, actor=request.user, reason="cancelled by staff"),
        )

    @admin.action(description="Force fallback to the next rail", permissions=["change"])
    def fallback_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            "Fell back",
            lambda p: services.payment_fallback(payment=p, actor=request.user, reason="forced by staff"),
        )

    @admin.action(description="Refund selected payments (in full)", permissions=["change"])
    def refund_selected(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._each(
            request,
            queryset,
            "Refund requested",
            lambda p: services.payment_refund(payment=p, actor=request.user, reason="refunded by staff"),
        )


class RailFeeScheduleInline(admin.TabularInline):
    model = RailFeeSchedule
    extra = 0


@admin.register(RailDefinition)
class RailDefinitionAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "display_name",
        "enabled",
        "settlement_seconds",
        "min_amount",
        "max_amount",
        "limit_currency",
        "min_kyc_tier",
        "circuit",
    )
    list_filter = ("enabled", "provider")
    search_fields = ("name", "display_name")
    inlines = [RailFeeScheduleInline]

    @admin.display(description="circuit")
    def circuit(self, obj: RailDefinition) -> str:
        return circuit_states([obj.name])[obj.name]

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        rail_catalog_invalidate()  # every process re-reads capabilities and fees within a second


@admin.register(PaymentRailStatus)
class PaymentRailStatusAdmin(admin.ModelAdmin):
    list_display = (
        "rail_name",
        "is_available",
        "circuit_state",
        "error_rate_1h",
        "sample_size_1h",
        "avg_latency_ms",
        "last_check_at",
        "last_error",
    )
    actions = ["reset_circuit"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Close the circuit breaker (provider recovered)", permissions=["change"])
    def reset_circuit(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for status in queryset:
            circuit_reset(status.rail_name)
        from apps.payments.health import rail_health_refresh

        rail_health_refresh()
        self.message_user(request, "Circuits reset.", messages.SUCCESS)


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(RailWebhookEvent)
class RailWebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("rail", "event_id", "event_type", "status", "received_at", "processed_at")
    list_filter = ("rail", "status")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "payment", "status", "tries", "available_at", "done_at", "last_error")
    list_filter = ("status", "kind")
    list_select_related = ("payment",)
    raw_id_fields = ("payment", "attempt")
    search_fields = ("=payment__id",)
    actions = ["retry_dead"]

    @admin.action(description="Retry dead messages", permissions=["change"])
    def retry_dead(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        _act_on_each(
            self,
            request,
            queryset,
            "Retried {} message(s).",
            lambda m: services.outbox_message_retry(message_id=m.pk, actor=request.user),
        )


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("key", "scope", "status", "response_status", "created_at", "expires_at")
    search_fields = ("key",)


@admin.register(FxRateSnapshot)
class FxRateSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("source", "as_of", "fetched_at")


@admin.register(UserPreferences)
class UserPreferencesAdmin(admin.ModelAdmin):
    list_display = ("user", "preferred_rails", "cost_weight", "default_currency")
    raw_id_fields = ("user",)
