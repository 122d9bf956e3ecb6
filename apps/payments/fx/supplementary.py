"""Rates the ECB does not publish (e.g. ARS, COP), from an operator-maintained JSON file.

``PAYMENTS_FX_SUPPLEMENTARY_FILE`` points at a file such as::

    {"rates": {"ARS": {"per_eur": "1234.56", "as_of": "2026-11-30T15:00:00-03:00",
                       "source": "BCRA Comunicación A 3500"}}}

Each rate is units per 1 EUR with its own timestamp and source. A rate older than
``PAYMENTS_FX_SUPPLEMENTARY_MAX_AGE_HOURS`` is left out (the currency is then
unsupported again), and a currency the ECB table already has is never overridden.
A missing or malformed file leaves the ECB table as it is and logs why.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path

import structlog

from apps.payments.fx.base import RateTable

logger = structlog.get_logger(__name__)


def supplementary_apply(table: RateTable, *, path: str, max_age_hours: float, now: datetime) -> RateTable:
    """``table`` plus the file's fresh rates for currencies it lacks."""
    if not path:
        return table
    try:
        entries = json.loads(Path(path).read_text())["rates"]
        parsed = {
            code.upper(): (Decimal(str(e["per_eur"])), datetime.fromisoformat(str(e["as_of"])))
            for code, e in entries.items()
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        logger.warning("fx_supplementary_unreadable", path=path, error=str(exc))
        return table
    oldest = now - timedelta(hours=max_age_hours)
    rates, stamps = dict(table.rates), dict(table.extra_as_of)
    for code, (per_eur, as_of) in parsed.items():
        if code in rates or code == "EUR":
            continue
        if as_of.tzinfo is None or per_eur <= 0:
            logger.warning("fx_supplementary_rate_invalid", currency=code)
            continue
        if as_of < oldest:
            logger.warning("fx_supplementary_rate_stale", currency=code, as_of=as_of.isoformat())
            continue
        rates[code], stamps[code] = per_eur, as_of
    return dataclasses.replace(table, rates=rates, extra_as_of=stamps)
