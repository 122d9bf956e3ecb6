"""Reports: CSV / XLSX exports for a period, a SAR draft per case and the daily summary."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.compliance.choices import CaseStatus
from apps.compliance.models import Case, DailySummary, PaymentDecision

CASE_COLUMNS = [
    "case_id",
    "created_at",
    "organization",
    "kind",
    "status",
    "risk_score",
    "amount_usd",
    "payment_id",
    "amount",
    "currency",
    "rail",
    "payer_ref",
    "payee_ref",
    "reasons",
    "sanctions_hits",
    "assigned_to",
    "first_approver",
    "decided_by",
    "decided_at",
    "decision_reason",
    "sla_due_at",
]
DECISION_COLUMNS = [
    "decision_id",
    "created_at",
    "organization",
    "payment_id",
    "decision",
    "score",
    "payer_tier",
    "amount",
    "currency",
    "rail",
    "reasons",
    "shadow_reasons",
    "rule_versions",
    "duration_ms",
]


def _period(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, time.min, tzinfo=tz),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz),
    )


def _codes(reasons: list[dict[str, Any]]) -> str:
    return "; ".join(str(r.get("code", "")) for r in reasons or [])


def case_rows(*, start: date, end: date, organization: Any = None, cases: Any = None) -> list[list[Any]]:
    qs = cases if cases is not None else Case.objects.filter(created_at__range=_period(start, end))
    if organization is not None:
        qs = qs.filter(organization=organization)
    qs = qs.select_related("organization", "payment", "assigned_to", "first_approver", "decided_by")
    rows = []
    for c in qs.order_by("created_at"):
        p = c.payment
        rows.append(
            [
                str(c.pk),
                c.created_at.isoformat(),
                c.organization.slug,
                c.kind,
                c.status,
                c.risk_score,
                str(c.amount_usd),
                str(c.payment_id or ""),
                str(p.amount.amount) if p else "",
                p.amount.currency.code if p else "",
                p.selected_rail if p else "",
                p.payer_ref if p else "",
                p.payee_ref if p else "",
                _codes(c.reasons),
                "; ".join(
                    f"{h.get('source')}:{h.get('external_id')}@{h.get('score')}" for h in c.sanctions_hits
                ),
                c.assigned_to.get_username() if c.assigned_to else "",
                c.first_approver.get_username() if c.first_approver else "",
                c.decided_by.get_username() if c.decided_by else "",
                c.decided_at.isoformat() if c.decided_at else "",
                c.decision_reason,
                c.sla_due_at.isoformat() if c.sla_due_at else "",
            ]
        )
    return rows


def decision_rows(*, start: date, end: date, organization: Any = None) -> list[list[Any]]:
    qs = PaymentDecision.objects.filter(created_at__range=_period(start, end))
    if organization is not None:
        qs = qs.filter(organization=organization)
    rows = []
    for d in qs.select_related("organization", "payment").order_by("created_at"):
        p = d.payment
        rows.append(
            [
                str(d.pk),
                d.created_at.isoformat(),
                d.organization.slug,
                str(d.payment_id),
                d.decision,
                d.score,
                d.payer_tier,
                str(p.amount.amount),
                p.amount.currency.code,
                p.selected_rail,
                _codes(d.reasons),
                _codes(d.shadow_reasons),
                "; ".join(f"{k}@v{v}" for k, v in sorted(d.rule_versions.items())),
                d.duration_ms,
            ]
        )
    return rows


def _csv_cell(value: Any) -> Any:
    # Spreadsheet formula injection: neutralise cells a spreadsheet would evaluate.
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_bytes(*, fmt: str, sheets: dict[str, tuple[list[str], list[list[Any]]]]) -> bytes:
    """CSV (sheets one after another, each with its header) or an XLSX workbook with one sheet each."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        for i, (name, (header, rows)) in enumerate(sheets.items()):
            if i:
                writer.writerow([])
            writer.writerow([f"# {name}"])
            writer.writerow(header)
            writer.writerows([[_csv_cell(v) for v in row] for row in rows])
        return buf.getvalue().encode("utf-8")
    if fmt == "xlsx":
        from openpyxl import Workbook

        wb = Workbook()
        wb.remove(wb.active)
        for name, (header, rows) in sheets.items():
            ws = wb.create_sheet(title=name[:31])
            ws.append(header)
            for row in rows:
                ws.append([_csv_cell(v) for v in row])
            ws.freeze_panes = "A2"
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    raise ValueError(f"Unknown export format {fmt!r}")


def compliance_report(*, start: date, end: date, fmt: str, organization: Any = None) -> bytes:
    return export_bytes(
        fmt=fmt,
        sheets={
            "cases": (CASE_COLUMNS, case_rows(start=start, end=end, organization=organization)),
            "decisions": (DECISION_COLUMNS, decision_rows(start=start, end=end, organization=organization)),
        },
    )


def case_sar_draft(*, case: Case) -> str:
    """A suspicious activity report draft (plain text) for a compliance officer to complete and file."""
    p = case.payment
    lines = [
        "SUSPICIOUS ACTIVITY REPORT — DRAFT (not filed)",
        f"Prepared: {timezone.now():%Y-%m-%d %H:%M} UTC",
        f"Reporting organisation: {case.organization.name}",
        f"Case: {case.pk} ({case.get_status_display()}), opened {case.created_at:%Y-%m-%d %H:%M} UTC",
        "",
        "1. SUBJECT",
    ]
    if p is not None:
        lines += [
            f"   Payer reference: {p.payer_ref or 'unknown'}",
            f"   Payee reference: {p.payee_ref or 'unknown'}  Name: {p.payee_name or 'unknown'}",
            f"   Countries: {p.from_country or '?'} → {p.to_country or '?'}",
        ]
    elif case.profile is not None:
        lines.append(f"   Counterparty: {case.profile.party_ref} ({case.profile.get_party_type_display()})")
    lines += ["", "2. ACTIVITY"]
    if p is not None:
        lines += [
            f"   Payment {p.pk}: {p.amount.amount} {p.amount.currency.code} via {p.selected_rail or 'unrouted'}",
            f"   Created {p.created_at:%Y-%m-%d %H:%M} UTC, status {p.status}; purpose: {p.purpose or 'not stated'}",
        ]
    history = case.counterparty_history or {}
    if history:
        lines.append(
            f"   Counterparty history: {history.get('payments', 0)} earlier payments "
            f"(first {history.get('first_at') or '-'}, last {history.get('last_at') or '-'})"
        )
    lines += ["", "3. WHY IT IS SUSPICIOUS", f"   Risk score: {case.risk_score:g}"]
    lines += [f"   - {r.get('message', r.get('code'))}" for r in case.reasons]
    for h in case.sanctions_hits:
        lines.append(
            f"   - Sanctions: {str(h.get('source', '')).upper()} {h.get('external_id')} “{h.get('name')}” "
            f"matched “{h.get('matched_name')}” (score {h.get('score')})"
        )
    if case.conversation_excerpt:
        lines += ["", "4. CONVERSATION EXCERPT"]
        lines += [
            f"   [{m.get('at', '')[:16]}] {m.get('sender') or m.get('direction')}: {m.get('text')}"
            for m in case.conversation_excerpt
        ]
    lines += ["", "5. ACTIONS TAKEN"]
    lines += [
        f"   {e.created_at:%Y-%m-%d %H:%M} {e.action} by {e.actor.get_username() if e.actor else 'system'}"
        + (f": {e.note}" if e.note else "")
        for e in case.events.select_related("actor").all()
    ]
    lines += ["", "6. NARRATIVE", "   [Describe who, what, when, where, why and how before filing.]"]
    return "\n".join(lines) + "\n"


@transaction.atomic
def daily_summary_build(*, day: date) -> list[DailySummary]:
    """Per-organisation counts for ``day`` (decisions by outcome, cases opened / decided, SLA breaches)."""
    start, end = _period(day, day)
    per_org: dict[Any, dict[str, Any]] = {}

    def bucket(org_id: Any) -> dict[str, Any]:
        return per_org.setdefault(
            org_id,
            {
                "day": day.isoformat(),
                "decisions": {},
                "cases_opened": 0,
                "cases_decided": {},
                "open_cases": 0,
                "sla_breached": 0,
                "top_reasons": [],
            },
        )

    reasons: dict[Any, Counter] = {}
    for org_id, decision, rs in PaymentDecision.objects.filter(created_at__range=(start, end)).values_list(
        "organization_id", "decision", "reasons"
    ):
        b = bucket(org_id)
        b["decisions"][decision] = b["decisions"].get(decision, 0) + 1
        reasons.setdefault(org_id, Counter()).update(r.get("code") for r in rs or [])
    for org_id in Case.objects.filter(created_at__range=(start, end)).values_list(
        "organization_id", flat=True
    ):
        bucket(org_id)["cases_opened"] += 1
    for org_id, status in Case.objects.filter(decided_at__range=(start, end)).values_list(
        "organization_id", "status"
    ):
        d = bucket(org_id)["cases_decided"]
        d[status] = d.get(status, 0) + 1
    open_statuses = [s for s in CaseStatus.values if s not in (CaseStatus.APPROVED, CaseStatus.REJECTED)]
    for org_id, due in Case.objects.filter(status__in=open_statuses, created_at__lt=end).values_list(
        "organization_id", "sla_due_at"
    ):
        b = bucket(org_id)
        b["open_cases"] += 1
        if due is not None and due < end:
            b["sla_breached"] += 1
    out = []
    for org_id, data in per_org.items():
        data["top_reasons"] = [[c, n] for c, n in reasons.get(org_id, Counter()).most_common(5)]
        row, _ = DailySummary.objects.update_or_create(
            organization_id=org_id, day=day, defaults={"data": data}
        )
        out.append(row)
    return out
