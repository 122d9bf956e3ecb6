"""Rates, conversion and rate locks. Rates come from the newest stored ECB snapshot
(refreshed by a task) or else the file shipped in the repo."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from django.core.cache import cache
from django.utils import timezone

from apps.payments import conf
from apps.payments.fx.base import FxProvider, RateTable
from apps.payments.fx.ecb import EcbFileProvider, ecb_xml_parse

logger = structlog.get_logger(__name__)

_RATE_PLACES = Decimal("0.0000000001")
_TABLE_TTL = 60.0


class SnapshotProvider(FxProvider):
    """The newest ``FxRateSnapshot`` row, else the shipped ECB file."""

    name = "ecb"

    def __init__(self) -> None:
        self._fallback = EcbFileProvider()

    def table(self) -> RateTable:
        from apps.payments.models import FxRateSnapshot

        snap = FxRateSnapshot.objects.order_by("-as_of", "-fetched_at").first()
        if snap is None:
            return self._fallback.table()
        return RateTable(
            as_of=snap.as_of, rates={k: Decimal(v) for k, v in snap.rates.items()}, source=snap.source
        )


_provider: FxProvider = SnapshotProvider()
_cached: tuple[float, RateTable] | None = None


def fx_provider_set(provider: FxProvider) -> None:
    """Swap the provider (a live provider later; tests)."""
    global _provider, _cached
    _provider, _cached = provider, None


def fx_table() -> RateTable:
    """The current table, reused in-process for a minute so routing stays sub-millisecond."""
    global _cached
    now = time.monotonic()
    if _cached is None or now - _cached[0] > _TABLE_TTL:
        _cached = (now, _provider.table())
    return _cached[1]


def fx_table_reset() -> None:
    global _cached
    _cached = None


def fx_rate(base: str, quote: str, *, table: RateTable | None = None) -> Decimal:
    """Mid-market units of ``quote`` per 1 ``base``, crossed through EUR."""
    if base.upper() == quote.upper():
        return Decimal(1)
    t = table or fx_table()
    return (t.per_eur(quote) / t.per_eur(base)).quantize(_RATE_PLACES)


@dataclass(frozen=True)
class FxLock:
    """A rate held for a payment until ``expires_at``."""

    id: str
    base: str
    quote: str
    rate: Decimal
    as_of: datetime
    expires_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "base": self.base,
            "quote": self.quote,
            "rate": str(self.rate),
            "as_of": self.as_of.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


def fx_rate_lock(*, base: str, quote: str) -> FxLock:
    """Lock today's rate for ``conf.fx_lock_ttl_seconds()``; shared across processes via the cache."""
    table = fx_table()
    ttl = conf.fx_lock_ttl_seconds()
    lock = FxLock(
        id=uuid.uuid4().hex,
        base=base.upper(),
        quote=quote.upper(),
        rate=fx_rate(base, quote, table=table),
        as_of=table.as_of,
        expires_at=timezone.now() + timedelta(seconds=ttl),
    )
    cache.set(f"payments:fxlock:{lock.id}", lock.to_dict(), timeout=ttl)
    return lock


def fx_lock_get(lock_id: str) -> FxLock | None:
    """The locked rate, or None once it expired."""
    data = cache.get(f"payments:fxlock:{lock_id}")
    if not data:
        return None
    expires_at = datetime.fromisoformat(data["expires_at"])
    if expires_at <= timezone.now():
        return None
    return FxLock(
        id=data["id"],
        base=data["base"],
        quote=data["quote"],
        rate=Decimal(data["rate"]),
        as_of=datetime.fromisoformat(data["as_of"]),
        expires_at=expires_at,
    )


def fx_rates_refresh(*, url: str | None = None, content: bytes | None = None) -> Any:
    """Fetch (or take) an ECB XML document and store it as the newest snapshot (idempotent per day)."""
    from apps.payments.models import FxRateSnapshot

    if content is None:
        import httpx

        target = url or conf.fx_ecb_url()
        if not target:
            return None
        response = httpx.get(target, timeout=10.0, follow_redirects=True)
        response.raise_for_status()
        content = response.content
    table = ecb_xml_parse(content, source="ecb")
    snap, created = FxRateSnapshot.objects.update_or_create(
        source=table.source,
        as_of=table.as_of,
        defaults={"rates": {k: str(v) for k, v in table.rates.items()}},
    )
    fx_table_reset()
    logger.info("fx_rates_refreshed", as_of=table.as_of.isoformat(), currencies=len(table.rates), new=created)
    return snap
