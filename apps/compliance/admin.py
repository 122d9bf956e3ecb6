"""The compliance console: review queue, KYC, lists, rules, decisions and the audit log.

Staff decisions go through services (which enforce permissions, OTP and four
eyes); the admin never edits statuses, scores or audit rows directly.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince, timeuntil

from apps.compliance import services
from apps.compliance.choices import OPEN_CASE_STATUSES, CaseKind
from apps.compliance.crypto import mask_value
from apps.compliance.models import (
    AuditEntry,
    Case,
    CaseEvent,
    DailySummary,
    KycDocument,
    KycProfile,
    PaymentDecision,
    RiskRule,
    RiskRuleVersion,
    SanctionsEntity,
    SanctionsList,
    ScreeningResult,
    TierLimit,
)
from apps.compliance.rules import RuleParamsError, rule_params_validate
from apps.compliance.selectors import organization_ids_for, scoped
from apps.core.exceptions import ApplicationError
from apps.core.models import Organization


class TenantAdmin(admin.ModelAdmin):
    """Shows staff only the rows of organisations they are members of (superusers: all).

    ``platform_rows``: rows without an organisation (platform defaults) are listed too, and only
    superusers may change them; others pick one of their own organisations for new rows.
    """

    org_field: str | None = "organization"
    platform_rows = False

    def get_queryset(self, request: HttpRequest) -> Any:
        if self.org_field is None:
            return super().get_queryset(request)
        return scoped(
            super().get_queryset(request),
            user=request.user,
            field=self.org_field,
            platform_rows=self.platform_rows,
        )

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        ids = organization_ids_for(request.user)
        if db_field.name == "organization" and ids is not None:
            kwargs["queryset"] = Organization.objects.filter(pk__in=ids)
            kwargs["required"] = True  # platform-wide rows are for superusers
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        platform_row = obj is not None and getattr(obj, "organization_id", None) is None
        if self.platform_rows and platform_row and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)


class ReadOnlyAdmin(TenantAdmin):
    """Rows written only by services: viewable, never added, edited or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _pretty(value: Any) -> str:
    return format_html(
        "<pre style='white-space:pre-wrap'>{}</pre>", json.dumps(value, indent=2, ensure_ascii=False)
    )


def _reasons_html(reasons: list[dict[str, Any]]) -> str:
    if not reasons:
        return "—"
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "",
            "<li><b>{}</b> (+{}) — {}</li>",
            ((r.get("code"), r.get("score"), r.get("message")) for r in reasons),
        ),
    )


# --- review queue --------------------------------------------------------------------------------


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("4h", "< 4 hours"),
            ("24h", "< 24 hours"),
            ("old", "older than 24 hours"),
            ("sla", "SLA breached"),
        ]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        now = timezone.now()
        if self.value() == "4h":
            return queryset.filter(created_at__gte=now - timedelta(hours=4))
        if self.value() == "24h":
            return queryset.filter(created_at__gte=now - timedelta(hours=24))
        if self.value() == "old":
            return queryset.filter(created_at__lt=now - timedelta(hours=24))
        if self.value() == "sla":
            return queryset.filter(sla_due_at__lt=now, status__in=OPEN_CASE_STATUSES)
        return queryset


class ScoreFilter(admin.SimpleListFilter):
    title = "risk score"
    parameter_name = "score"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("low", "< 50"), ("mid", "50 – 99"), ("high", "≥ 100")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "low":
            return queryset.filter(risk_score__lt=50)
        if self.value() == "mid":
            return queryset.filter(risk_score__gte=50, risk_score__lt=100)
        if self.value() == "high":
            return queryset.filter(risk_score__gte=100)
        return queryset


class OpenFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("open", "Open"), ("mine", "Assigned to me"), ("closed", "Decided")]

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        if self.value() == "open":
            return queryset.filter(status__in=OPEN_CASE_STATUSES)
        if self.value() == "mine":
            return queryset.filter(assigned_to=request.user, status__in=OPEN_CASE_STATUSES)
        if self.value() == "closed":
            return queryset.exclude(status__in=OPEN_CASE_STATUSES)
        return queryset


class CaseEventInline(admin.TabularInline):
    model = CaseEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "action", "actor", "from_status", "to_status", "note")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


CASE_ACTIONS = {
    "assign": ("Assign to me", "assign_case", "note", False),
    "approve": ("Approve", "decide_case", "reason", False),
    "reject": ("Reject", "decide_case", "reason", True),
    "escalate": ("Escalate", "assign_case", "note", False),
    "request_info": ("Request information", "assign_case", "question", True),
}


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "status",
        "kind",
        "risk_score",
        "amount_usd",
        "payment_summary",
        "assigned_to",
        "four_eyes",
        "sla",
        "created_at",
    )
    list_filter = (
        OpenFilter,
        "status",
        AgeFilter,
        ScoreFilter,
        "kind",
        ("assigned_to", admin.RelatedOnlyFieldListFilter),
        ("decided_by", admin.RelatedOnlyFieldListFilter),
        "escalated",
        "requires_four_eyes",
    )
    list_select_related = ("payment", "assigned_to")
    search_fields = (
        "=id",
        "=payment__id",
        "payment__payer_ref",
        "payment__payee_ref",
        "payment__payee_name",
        "party_ref",
    )
    date_hierarchy = "created_at"
    ordering = ("-risk_score", "created_at")
    inlines = [CaseEventInline]
    actions = ["assign_to_me", "escalate_selected", "export_csv", "export_xlsx"]
    change_form_template = "admin/compliance/case/change_form.html"
    fieldsets = (
        (
            None,
            {
                "fields": (
                    "status",
                    "kind",
                    "risk_score",
                    "amount_usd",
                    "payment_link",
                    "profile",
                    "party_ref",
                    "sla",
                )
            },
        ),
        ("Why it was flagged", {"fields": ("reasons_display", "sanctions_display")}),
        ("Context", {"fields": ("conversation_display", "history_display", "context_at")}),
        (
            "Review",
            {
                "fields": (
                    "requires_four_eyes",
                    "assigned_to",
                    "created_by",
                    "first_approver",
                    "first_approved_at",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                )
            },
        ),
    )
    # Every field is shown read-only: changes go through the actions.
    readonly_fields = tuple(str(name) for _title, opts in fieldsets for name in opts["fields"])

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only to let reviewers open the page; every field is read-only and changes go through actions.
        return request.user.has_perm("compliance.view_case")

    @admin.display(description="case")
    def short_id(self, obj: Case) -> str:
        return str(obj.pk)[:8]

    @admin.display(description="payment")
    def payment_summary(self, obj: Case) -> str:
        p = obj.payment
        if p is None:
            return f"counterparty {obj.party_ref}" if obj.party_ref else "—"
        return f"{p.amount} via {p.selected_rail or '?'} → {mask_value(p.payee_name) or p.payee_ref}"

    @admin.display(description="4 eyes", boolean=True)
    def four_eyes(self, obj: Case) -> bool:
        return obj.requires_four_eyes

    @admin.display(description="SLA age", ordering="sla_due_at")
    def sla(self, obj: Case) -> str:
        now = timezone.now()
        age = timesince(obj.created_at, now)
        if obj.status not in OPEN_CASE_STATUSES or obj.sla_due_at is None:
            return age
        if obj.sla_due_at <= now:
            return format_html(
                "<b style='color:#ba2121'>{} · overdue by {}</b>", age, timesince(obj.sla_due_at, now)
            )
        return format_html("{} · due in {}", age, timeuntil(obj.sla_due_at, now))

    @admin.display(description="payment")
    def payment_link(self, obj: Case) -> str:
        if obj.payment_id is None:
            return "—"
        try:
            url = reverse("admin:payments_orchestrationpayment_change", args=[obj.payment_id])
        except NoReverseMatch:
            return f"{obj.payment_id} ({obj.payment.status if obj.payment else ''})"
        return format_html(
            "<a href='{}'>{}</a> ({})", url, obj.payment_id, obj.payment.status if obj.payment else ""
        )

    @admin.display(description="reasons")
    def reasons_display(self, obj: Case) -> str:
        return _reasons_html(obj.reasons)

    @admin.display(description="sanctions hits")
    def sanctions_display(self, obj: Case) -> str:
        if not obj.sanctions_hits:
            return "—"
        rows = (
            (
                str(h.get("source", "")).upper(),
                h.get("external_id"),
                h.get("name"),
                h.get("matched_name"),
                h.get("score"),
                h.get("strength"),
            )
            for h in obj.sanctions_hits
        )
        return format_html(
            "<table><tr><th>list</th><th>id</th><th>entry</th><th>matched</th><th>score</th><th></th></tr>{}</table>",
            format_html_join(
                "", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows
            ),
        )

    @admin.display(description="conversation excerpt")
    def conversation_display(self, obj: Case) -> str:
        if obj.context_at is None and obj.kind == CaseKind.PAYMENT:
            return "being gathered…"
        if not obj.conversation_excerpt:
            return "—"
        return format_html_join(
            "",
            "<div><small>{}</small> <b>{}</b>: {}</div>",
            (
                (m.get("at", "")[:16], m.get("sender") or m.get("direction"), m.get("text"))
                for m in obj.conversation_excerpt
            ),
        )

    @admin.display(description="counterparty history")
    def history_display(self, obj: Case) -> str:
        return _pretty(obj.counterparty_history) if obj.counterparty_history else "—"

    # --- actions ----------------------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<uuid:object_id>/act/<str:action>/",
                self.admin_site.admin_view(self.case_action_view),
                name=f"{info[0]}_{info[1]}_act",
            ),
            path(
                "<uuid:object_id>/sar/",
                self.admin_site.admin_view(self.sar_view),
                name=f"{info[0]}_{info[1]}_sar",
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "case_actions": [(k, v[0]) for k, v in CASE_ACTIONS.items()],
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Case | None:
        # A case the beat sweep has not reached yet gets its context now, before a reviewer reads it.
        case = super().get_object(request, object_id, from_field)
        if case is not None and case.context_at is None:
            case = services.case_context_gather(case=case)
        return case

    def case_action_view(self, request: HttpRequest, object_id: Any, action: str) -> HttpResponse:
        case = get_object_or_404(self.get_queryset(request), pk=object_id)
        if action not in CASE_ACTIONS:
            return HttpResponseRedirect(reverse("admin:compliance_case_change", args=[case.pk]))
        label, _perm, field, required = CASE_ACTIONS[action]
        error, status = "", 200
        if request.method == "POST":
            text = request.POST.get("text", "").strip()
            try:
                if required and not text:
                    raise ApplicationError("This field is required.", code="text_required")
                if action == "assign":
                    case = services.case_assign(case=case, actor=request.user, note=text, request=request)
                elif action == "approve":
                    case = services.case_approve(case=case, actor=request.user, reason=text, request=request)
                elif action == "reject":
                    case = services.case_reject(case=case, actor=request.user, reason=text, request=request)
                elif action == "escalate":
                    case = services.case_escalate(case=case, actor=request.user, note=text, request=request)
                else:
                    case = services.case_request_info(
                        case=case, actor=request.user, question=text, request=request
                    )
            except ApplicationError as exc:
                error = exc.message
                # Refusals (permission, OTP, four eyes) are 403 and decided cases 409; a missing
                # reason just shows the form again.
                status = exc.status_code if exc.status_code in (403, 409) else 200
            else:
                self.message_user(
                    request, f"{label}: case is now {case.get_status_display()}.", messages.SUCCESS
                )
                return HttpResponseRedirect(reverse("admin:compliance_case_change", args=[case.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "case": case,
            "title": f"{label} case {str(case.pk)[:8]}",
            "action": action,
            "label": label,
            "field": field,
            "error": error,
        }
        return TemplateResponse(request, "admin/compliance/case/action.html", context, status=status)

    def sar_view(self, request: HttpRequest, object_id: Any) -> HttpResponse:
        from apps.compliance.reports import case_sar_draft

        if not request.user.has_perm("compliance.export_reports"):
            raise PermissionDenied("You need the compliance.export_reports permission.")
        case = get_object_or_404(
            self.get_queryset(request).select_related("organization", "payment", "profile"), pk=object_id
        )
        case = services.case_context_gather(case=case)
        services.audit_record(action="case.sar_drafted", actor=request.user, target=case, request=request)
        response = HttpResponse(case_sar_draft(case=case), content_type="text/plain; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="sar-draft-{case.pk}.txt"'
        return response

    @admin.action(description="Assign to me")
    def assign_to_me(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(
            request, queryset, lambda c: services.case_assign(case=c, actor=request.user, request=request)
        )

    @admin.action(description="Escalate")
    def escalate_selected(self, request: HttpRequest, queryset: Any) -> None:
        self._bulk(
            request, queryset, lambda c: services.case_escalate(case=c, actor=request.user, request=request)
        )

    def _bulk(self, request: HttpRequest, queryset: Any, fn: Any) -> None:
        done, errors = 0, []
        for case in queryset:
            try:
                fn(case)
                done += 1
            except ApplicationError as exc:
                errors.append(f"{str(case.pk)[:8]}: {exc.message}")
        if done:
            self.message_user(request, f"{done} case(s) updated.", messages.SUCCESS)
        for err in errors:
            self.message_user(request, err, messages.ERROR)

    def _export(self, request: HttpRequest, queryset: Any, fmt: str) -> HttpResponse | None:
        from apps.compliance.reports import CASE_COLUMNS, case_rows, export_bytes

        if not request.user.has_perm("compliance.export_reports"):
            self.message_user(request, "You need the compliance.export_reports permission.", messages.ERROR)
            return None
        today = timezone.now().date()
        data = export_bytes(
            fmt=fmt, sheets={"cases": (CASE_COLUMNS, case_rows(start=today, end=today, cases=queryset))}
        )
        services.audit_record(
            action="compliance.cases_exported",
            actor=request.user,
            after={"count": queryset.count(), "format": fmt},
            request=request,
        )
        ctype = (
            "text/csv"
            if fmt == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        )
        response = HttpResponse(data, content_type=ctype)
        response["Content-Disposition"] = f'attachment; filename="cases-{today}.{fmt}"'
        return response

    @admin.action(description="Export selected as CSV")
    def export_csv(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._export(request, queryset, "csv")

    @admin.action(description="Export selected as XLSX")
    def export_xlsx(self, request: HttpRequest, queryset: Any) -> HttpResponse | None:
        return self._export(request, queryset, "xlsx")


# --- KYC and limits ----------------------------------------------------------------------------------


class KycDocumentInline(admin.TabularInline):
    model = KycDocument
    extra = 0
    fields = ("kind", "issuing_country", "status", "check_provider", "checked_at", "expires_on")
    readonly_fields = ("checked_at",)


@admin.register(KycProfile)
class KycProfileAdmin(TenantAdmin):
    list_display = (
        "party_ref",
        "organization",
        "party_type",
        "tier",
        "masked_name",
        "country",
        "risk_rating",
        "is_pep",
        "screening_status",
    )
    list_filter = ("tier", "party_type", "risk_rating", "is_pep", "screening_status", "country")
    list_select_related = ("organization",)
    search_fields = ("party_ref",)
    raw_id_fields = ("organization",)
    inlines = [KycDocumentInline]
    readonly_fields = ("screening_status", "last_screened_at", "created_at", "updated_at")
    exclude = ("legal_name_index", "tax_id_index", "iban_index", "phone_index")

    @admin.display(description="name")
    def masked_name(self, obj: KycProfile) -> str:
        return mask_value(obj.legal_name)

    def get_search_results(self, request: HttpRequest, queryset: Any, search_term: str) -> tuple[Any, bool]:
        # Encrypted columns are searched by exact value through their blind indexes.
        from apps.compliance.crypto import blind_index

        qs, distinct = super().get_search_results(request, queryset, search_term)
        if search_term:
            h = blind_index(search_term)
            qs = (
                qs
                | queryset.filter(legal_name_index=h)
                | queryset.filter(tax_id_index=h)
                | queryset.filter(iban_index=h)
                | queryset.filter(phone_index=h)
            )
        return qs, distinct

    def save_model(self, request: HttpRequest, obj: KycProfile, form: Any, change: bool) -> None:
        fields = {name: getattr(obj, name) for name in form.changed_data if name != "organization"}
        saved = services.kyc_profile_upsert(
            organization=obj.organization, party_ref=obj.party_ref, actor=request.user, **fields
        )
        obj.pk = saved.pk


@admin.register(TierLimit)
class TierLimitAdmin(TenantAdmin):
    platform_rows = True
    list_display = ("tier", "organization", "rail", "currency", "per_transaction", "daily", "monthly")
    list_filter = ("tier", "rail", "currency")
    list_select_related = ("organization",)
    raw_id_fields = ("organization",)

    def save_model(self, request: HttpRequest, obj: TierLimit, form: Any, change: bool) -> None:
        services.tier_limit_save(limit=obj, actor=request.user)


# --- sanctions ----------------------------------------------------------------------------------------


@admin.register(SanctionsList)
class SanctionsListAdmin(ReadOnlyAdmin):
    org_field = None  # public lists
    list_display = ("source", "format", "entity_count", "published_at", "is_active", "imported_at")
    list_filter = ("source", "is_active")


@admin.register(SanctionsEntity)
class SanctionsEntityAdmin(ReadOnlyAdmin):
    org_field = None
    list_display = ("name", "entity_type", "external_id", "sanctions_list")
    list_filter = ("sanctions_list__source", "entity_type")
    list_select_related = ("sanctions_list",)
    search_fields = ("name", "external_id")


@admin.register(ScreeningResult)
class ScreeningResultAdmin(ReadOnlyAdmin):
    list_display = ("party_ref", "organization", "outcome", "lists_version", "created_at")
    list_filter = ("outcome",)
    list_select_related = ("organization",)
    search_fields = ("=party_ref",)


# --- rules and decisions --------------------------------------------------------------------------------


class RiskRuleVersionInline(admin.TabularInline):
    model = RiskRuleVersion
    extra = 0
    can_delete = False
    fields = ("version", "snapshot", "changed_by", "created_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class RiskRuleForm(forms.ModelForm):
    """Checks ``params`` against the rule kind (``rules.PARAMS``) before the service saves a version."""

    class Meta:
        model = RiskRule
        fields = ("organization", "code", "name", "kind", "params", "score", "action", "mode")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, params = data.get("kind"), data.get("params")
        if kind and params is not None:
            try:
                data["params"] = rule_params_validate(kind, params)
            except RuleParamsError as exc:
                self.add_error("params", [f"{k}: {v}" for k, v in exc.errors.items()])
        return data


@admin.register(RiskRule)
class RiskRuleAdmin(TenantAdmin):
    form = RiskRuleForm
    platform_rows = True
    list_display = (
        "code",
        "name",
        "kind",
        "mode",
        "action",
        "score",
        "version",
        "organization",
        "updated_at",
    )
    list_filter = ("mode", "kind", "action")
    list_select_related = ("organization",)
    search_fields = ("code", "name")
    raw_id_fields = ("organization",)
    readonly_fields = ("version",)
    inlines = [RiskRuleVersionInline]

    def save_model(self, request: HttpRequest, obj: RiskRule, form: Any, change: bool) -> None:
        services.risk_rule_save(rule=obj, actor=request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # decisions cite rule versions; switch a rule "off" instead


@admin.register(PaymentDecision)
class PaymentDecisionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "decision", "score", "payment", "payer_tier", "duration_ms", "organization")
    list_filter = ("decision", "payer_tier")
    list_select_related = ("payment", "organization")
    search_fields = ("payment__id",)
    date_hierarchy = "created_at"
    readonly_fields = ("reasons_display", "shadow_display", "rule_versions", "sanctions_hits", "fx")
    fields = (
        "organization",
        "payment",
        "decision",
        "score",
        "payer_tier",
        "duration_ms",
        "reasons_display",
        "shadow_display",
        "rule_versions",
        "sanctions_hits",
        "fx",
    )

    @admin.display(description="reasons")
    def reasons_display(self, obj: PaymentDecision) -> str:
        return _reasons_html(obj.reasons)

    @admin.display(description="shadow rules (not enforced)")
    def shadow_display(self, obj: PaymentDecision) -> str:
        return _reasons_html(obj.shadow_reasons)


@admin.register(DailySummary)
class DailySummaryAdmin(ReadOnlyAdmin):
    list_display = ("day", "organization", "created_at")
    list_select_related = ("organization",)
    date_hierarchy = "day"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "sequence",
        "created_at",
        "actor_label",
        "action",
        "target_type",
        "target_id",
        "ip_address",
        "short_hash",
    )
    list_filter = ("action", "target_type")
    search_fields = ("action", "target_id", "actor_label", "request_id")
    date_hierarchy = "created_at"
    show_full_result_count = False

    @admin.display(description="hash")
    def short_hash(self, obj: AuditEntry) -> str:
        return obj.hash[:12]
