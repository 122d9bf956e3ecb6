"""Rates, conversion and rate locks. Rates come from the newest stored ECB snapshot
(refreshed by a task) or else the file shipped in the repo, plus the operator's
supplementary rates for currencies the ECB does not publish (``fx/supplementary.py``)."""

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

from apps.core.exceptions import Unprocessable
from apps.payments import conf
from apps.payments.fx.base import FxProvider, FxUnavailable, RateTable
from apps.payments.fx.ecb import EcbFileProvider, ecb_xml_parse
from apps.payments.fx.supplementary import supplementary_apply

logger = structlog.get_logger(__name__)

_RATE_PLACES = Decimal("0.0000000001")
_TABLE_TTL = 60.0
# an expired lock is remembered this long, so using it answers "expired" rather than "unknown"
_EXPIRED_LOCK_KEPT_SECONDS = 86400


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
        _cached = (
            now,
            supplementary_apply(
                _provider.table(),
                path=conf.fx_supplementary_file(),
                max_age_hours=conf.fx_supplementary_max_age_hours(),
                now=timezone.now(),
            ),
        )
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


class FxLockNotFound(Unprocessable):
    code = "fx_lock_not_found"
    message = "Unknown FX lock: quote the payment again for a new fx_lock_id."


class FxLockExpired(Unprocessable):
    code = "fx_lock_expired"
    message = "The FX lock has expired: quote the payment again for a new fx_lock_id."


class FxLockMismatch(Unprocessable):
    code = "fx_lock_mismatch"
    message = "The FX lock is for other currencies than this payment."


@dataclass(frozen=True)
class FxLock:
    """A rate held for a payment until ``expires_at``, for one organisation."""

    id: str
    base: str
    quote: str
    rate: Decimal
    as_of: datetime
    expires_at: datetime
    organization_id: str = ""

    def expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "base": self.base,
            "quote": self.quote,
            "rate": str(self.rate),
            "as_of": self.as_of.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "organization": self.organization_id,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FxLock:
        return cls(
            id=data["id"],
            base=data["base"],
            quote=data["quote"],
            rate=Decimal(data["rate"]),
            as_of=datetime.fromisoformat(data["as_of"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            organization_id=str(data.get("organization") or ""),
        )


def _lock_key(lock_id: str) -> str:
    return f"payments:fxlock:{lock_id}"


def fx_rate_lock(*, base: str, quote: str, organization: Any = None) -> FxLock:
    """Lock today's rate for ``conf.fx_lock_ttl_seconds()``; shared across processes via the cache."""
    table = fx_table()
    ttl = conf.fx_lock_ttl_seconds()
    org_id = getattr(organization, "pk", organization)
    lock = FxLock(
        id=uuid.uuid4().hex,
        base=base.upper(),
        quote=quote.upper(),
        rate=fx_rate(base, quote, table=table),
        as_of=table.as_of_for(base, quote),
        expires_at=timezone.now() + timedelta(seconds=ttl),
        organization_id="" if org_id is None else str(org_id),
    )
    cache.set(_lock_key(lock.id), lock.to_dict(), timeout=ttl + _EXPIRED_LOCK_KEPT_SECONDS)
    return lock


def fx_lock_get(lock_id: str) -> FxLock | None:
    """The locked rate, or None once it expired (or was never issued)."""
    data = cache.get(_lock_key(lock_id)) if lock_id else None
    if not data:
        return None
    lock = FxLock.from_dict(data)
    return None if lock.expired() else lock


def fx_lock_claim(*, lock_id: str, base: str, quote: str, organization: Any) -> FxLock:
    """The unexpired lock ``lock_id`` of ``organization`` for ``base`` → ``quote``, or a 422 saying why not."""
    data = cache.get(_lock_key(lock_id)) if lock_id else None
    org_id = str(getattr(organization, "pk", organization))
    if not data or str(data.get("organization") or "") != org_id:
        raise FxLockNotFound(extra={"fx_lock_id": lock_id})
    lock = FxLock.from_dict(data)
    if lock.expired():
        raise FxLockExpired(extra={"fx_lock_id": lock_id, "expired_at": lock.expires_at.isoformat()})
    if (lock.base, lock.quote) != (base.upper(), quote.upper()):
        raise FxLockMismatch(
            extra={"fx_lock_id": lock_id, "lock": f"{lock.base}/{lock.quote}", "payment": f"{base}/{quote}"}
        )
    return lock


def fx_lock_for_request(*, organization: Any, base: str, quote: str, lock_id: str | None) -> FxLock | None:
    """The rate a new payment (or quote) converts at: the claimed ``lock_id``, else a new lock.

    Same-currency requests need none (a ``lock_id`` for them is a mismatch); currencies
    without a rate get none, so routing answers its own validation error.
    """
    if base.upper() == quote.upper():
        if lock_id:
            raise FxLockMismatch(extra={"fx_lock_id": lock_id, "payment": f"{base}/{quote}"})
        return None
    if lock_id:
        return fx_lock_claim(lock_id=lock_id, base=base, quote=quote, organization=organization)
    try:
        return fx_rate_lock(base=base, quote=quote, organization=organization)
    except FxUnavailable:
        return None


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
