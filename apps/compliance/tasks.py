"""Celery tasks: thin wrappers that load ids and call one service."""

from __future__ import annotations

from typing import Any

import structlog
from celery import shared_task

logger = structlog.get_logger(__name__)


@shared_task(name="compliance.sanctions_refresh")
def sanctions_refresh_task() -> dict[str, Any]:
    """Weekly: re-import every configured list URL (unchanged files are skipped)."""
    from apps.compliance import conf
    from apps.compliance.services import sanctions_import

    out: dict[str, Any] = {}
    for fmt, url in conf.sanctions_urls().items():
        try:
            lst, changed = sanctions_import(fmt=fmt, origin=url, actor="system:sanctions_refresh")
            out[fmt] = {"list_id": lst.pk, "changed": changed, "entities": lst.entity_count}
        except Exception as exc:  # one unreachable list must not stop the others
            logger.exception("sanctions_refresh_failed", format=fmt, url=url)
            out[fmt] = {"error": str(exc)[:200]}
    return out


@shared_task(name="compliance.counterparties_rescreen")
def counterparties_rescreen_task(organization_id: str | None = None) -> dict[str, int]:
    from apps.compliance.services import counterparties_rescreen
    from apps.core.models import Organization

    org = Organization.objects.filter(pk=organization_id).first() if organization_id else None
    return counterparties_rescreen(organization=org)


@shared_task(name="compliance.daily_summary")
def daily_summary_task(day: str | None = None) -> int:
    from datetime import date, timedelta

    from django.utils import timezone

    from apps.compliance.reports import daily_summary_build

    target = date.fromisoformat(day) if day else timezone.now().date() - timedelta(days=1)
    return len(daily_summary_build(day=target))


@shared_task(name="compliance.case_context_sweep")
def case_context_sweep_task() -> int:
    """Every 15 s: the conversation excerpt and counterparty history of review cases opened since."""
    from apps.compliance.services import case_context_gather_pending

    return case_context_gather_pending()
