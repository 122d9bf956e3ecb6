"""The registered rails and the in-process catalogue of their capabilities, fees and health."""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal

from django.core.cache import cache

from apps.payments import conf
from apps.payments.rails.base import FeeRule, RailAdapter, RailCapabilities
from apps.payments.rails.payto.adapter import PayToAdapter
from apps.payments.rails.pix.adapter import PixAdapter
from apps.payments.rails.sepa.adapter import SepaAdapter
from apps.payments.rails.stripe.adapter import StripeAdapter
from apps.payments.rails.usdc.adapter import UsdcAdapter
from apps.payments.rails.wise.adapter import WiseAdapter

ADAPTERS: dict[str, type[RailAdapter]] = {
    "pix": PixAdapter,
    "payto": PayToAdapter,
    "stripe": StripeAdapter,
    "wise": WiseAdapter,
    "sepa": SepaAdapter,
    "usdc": UsdcAdapter,
}

_VERSION_KEY = "payments:catalog:version"


class UnknownRail(KeyError):
    pass


@dataclass(frozen=True)
class RailCatalog:
    """Enabled and disabled rail options with their observed 1 h success rate."""

    rails: dict[str, RailCapabilities]
    enabled: tuple[str, ...]
    success_rate: dict[str, float]
    loaded_at: float
    version: int


_catalog: RailCatalog | None = None
_checked_at = 0.0


def _load(version: int) -> RailCatalog:
    from apps.payments.models import PaymentRailStatus, RailDefinition

    rails: dict[str, RailCapabilities] = {}
    enabled: list[str] = []
    for d in RailDefinition.objects.prefetch_related("fees").order_by("name"):
        fees = {
            f.currency: FeeRule(
                fixed=f.fixed_fee,
                fixed_currency=f.fixed_fee_currency,
                percent=f.percent_fee,
                cross_border_percent=f.cross_border_percent,
                min_fee=f.min_fee,
                max_fee=f.max_fee,
            )
            for f in d.fees.all()
        }
        rails[d.name] = RailCapabilities(
            name=d.name,
            provider=d.provider,
            display_name=d.display_name,
            description=d.description,
            currencies=frozenset(c.upper() for c in d.currencies),
            payee_currencies=frozenset(c.upper() for c in (d.payee_currencies or d.currencies)),
            payer_countries=frozenset(c.upper() for c in d.payer_countries),
            payee_countries=frozenset(c.upper() for c in d.payee_countries),
            cross_currency=d.cross_currency,
            min_amount=Decimal(d.min_amount),
            max_amount=None if d.max_amount is None else Decimal(d.max_amount),
            limit_currency=d.limit_currency,
            settlement_seconds=d.settlement_seconds,
            operates_24x7=d.operates_24x7,
            cutoff=d.cutoff or {},
            required_identifiers=tuple(d.required_identifiers or ()),
            min_kyc_tier=d.min_kyc_tier,
            supports_refund=d.supports_refund,
            supports_recurring=d.supports_recurring,
            supports_qr=d.supports_qr,
            fx_margin_percent=Decimal(d.fx_margin_percent),
            fees=fees,
            sandbox_latency_seconds=d.sandbox_latency_seconds,
            sandbox_failure_rate=d.sandbox_failure_rate,
            sandbox_available=d.sandbox_available,
        )
        if d.enabled:
            enabled.append(d.name)
    success = {
        s.rail_name: 1.0 - float(s.error_rate_1h)
        for s in PaymentRailStatus.objects.all()
        if s.error_rate_1h is not None and s.sample_size_1h >= 10
    }
    return RailCatalog(
        rails=rails, enabled=tuple(enabled), success_rate=success, loaded_at=time.monotonic(), version=version
    )


def rail_catalog() -> RailCatalog:
    """The catalogue, re-read when stale or when another process bumped its version."""
    global _catalog, _checked_at
    now = time.monotonic()
    if _catalog is not None and now - _catalog.loaded_at < conf.catalog_cache_seconds():
        if now - _checked_at < 1.0:
            return _catalog
        _checked_at = now
        if int(cache.get(_VERSION_KEY) or 0) == _catalog.version:
            return _catalog
    _catalog = _load(int(cache.get(_VERSION_KEY) or 0))
    _checked_at = now
    return _catalog


def rail_catalog_invalidate() -> None:
    """Every process re-reads the catalogue within a second (admin edits, health changes)."""
    global _catalog
    _catalog = None
    cache.add(_VERSION_KEY, 0, timeout=None)
    try:
        cache.incr(_VERSION_KEY)
    except ValueError:
        cache.set(_VERSION_KEY, 1, timeout=None)


def rail_adapter(name: str, *, catalog: RailCatalog | None = None) -> RailAdapter:
    cat = catalog or rail_catalog()
    try:
        caps = cat.rails[name]
    except KeyError as exc:
        raise UnknownRail(name) from exc
    return ADAPTERS[caps.provider](caps)
