"""The interface every rail implements, and the typed values that cross it.

A rail adapter turns our payment into the provider's calls (through its
``client``) and the provider's answers and callbacks back into these
dataclasses. Capabilities and fees are data (``RailDefinition`` /
``RailFeeSchedule``) loaded into a ``RailCapabilities`` snapshot.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from apps.payments.constants import quantize_money

if TYPE_CHECKING:
    from apps.payments.fx.base import RateTable
    from apps.payments.fx.services import FxLock
    from apps.payments.models import OrchestrationPayment, PaymentAttempt
    from apps.payments.types import PaymentRequest, Quote


class RailError(Exception):
    """The rail refused the payment for good (bad account, limit, closed corridor)."""

    transient = False


class RailTransientError(RailError):
    """Worth retrying on the same rail (timeout, 5xx, rate limit)."""

    transient = True


class RailUnavailable(RailError):
    """The provider is down; move to another rail."""


class WebhookVerificationError(Exception):
    """Bad or missing signature, or a stale timestamp."""


@dataclass(frozen=True)
class FeeRule:
    fixed: Decimal
    fixed_currency: str
    percent: Decimal
    cross_border_percent: Decimal
    min_fee: Decimal
    max_fee: Decimal | None


@dataclass(frozen=True)
class RailCapabilities:
    """A rail option's capabilities and price list (one immutable snapshot per catalogue load)."""

    name: str
    provider: str
    display_name: str
    description: str
    currencies: frozenset[str]
    payee_currencies: frozenset[str]
    payer_countries: frozenset[str]
    payee_countries: frozenset[str]
    cross_currency: bool
    min_amount: Decimal
    max_amount: Decimal | None
    limit_currency: str
    settlement_seconds: int
    operates_24x7: bool
    cutoff: dict[str, Any]
    required_identifiers: tuple[str, ...]
    min_kyc_tier: str
    supports_refund: bool
    supports_recurring: bool
    supports_qr: bool
    fx_margin_percent: Decimal
    fees: dict[str, FeeRule] = field(default_factory=dict)
    sandbox_latency_seconds: float = 2.0
    sandbox_failure_rate: float = 0.0
    sandbox_available: bool = True

    def fee_rule(self, currency: str) -> FeeRule | None:
        return self.fees.get(currency) or self.fees.get("")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "provider": self.provider,
            "display_name": self.display_name,
            "description": self.description,
            "currencies": sorted(self.currencies),
            "payee_currencies": sorted(self.payee_currencies),
            "payer_countries": sorted(self.payer_countries),
            "payee_countries": sorted(self.payee_countries),
            "cross_currency": self.cross_currency,
            "min_amount": str(self.min_amount),
            "max_amount": None if self.max_amount is None else str(self.max_amount),
            "limit_currency": self.limit_currency,
            "settlement_seconds": self.settlement_seconds,
            "operates_24x7": self.operates_24x7,
            "cutoff": self.cutoff,
            "required_identifiers": list(self.required_identifiers),
            "min_kyc_tier": self.min_kyc_tier,
            "supports_refund": self.supports_refund,
            "supports_recurring": self.supports_recurring,
            "supports_qr": self.supports_qr,
            "fx_margin_percent": str(self.fx_margin_percent),
            "fees": {
                (cur or "*"): {
                    "fixed": str(r.fixed),
                    "fixed_currency": r.fixed_currency,
                    "percent": str(r.percent),
                    "cross_border_percent": str(r.cross_border_percent),
                    "min_fee": str(r.min_fee),
                    "max_fee": None if r.max_fee is None else str(r.max_fee),
                }
                for cur, r in sorted(self.fees.items())
            },
        }


@dataclass(frozen=True)
class InitiateResult:
    external_id: str
    status: str  # initiated | processing | succeeded
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StatusResult:
    external_id: str
    status: str  # processing | succeeded | failed | cancelled
    failure_reason: str = ""


@dataclass(frozen=True)
class RefundResult:
    """The rail's answer about a refund; ``pending`` ones are polled until final."""

    external_id: str
    status: str  # pending | succeeded | failed
    failure_reason: str = ""


@dataclass(frozen=True)
class RailWebhook:
    """A provider callback, parsed: which attempt it is about and what happened."""

    event_id: str
    event_type: str
    external_id: str
    attempt_id: str | None
    status: str  # processing | succeeded | failed
    failure_reason: str = ""


_HUNDRED = Decimal(100)
_SECONDS_PER_YEAR = Decimal(365 * 86400)


def quote_compute(
    caps: RailCapabilities,
    request: PaymentRequest,
    *,
    table: RateTable,
    annual_rate: Decimal,
    now: datetime,
    fx_lock: FxLock | None = None,
) -> Quote:
    """Price ``request`` on a rail submitted at ``now``: fixed + percent fees (bounded), FX margin
    and time value of money until it settles (operating hours and cut-offs included).

    ``fx_lock`` (for the request's payer → payee currencies) replaces the table's mid rate.
    """
    from apps.payments.fx.services import fx_rate
    from apps.payments.rails.hours import settlement_estimate
    from apps.payments.types import Quote

    cur = request.currency
    payee_cur = request.payee_currency or cur
    amount = request.amount
    rule = caps.fee_rule(cur)
    fixed = percent = Decimal(0)
    if rule is not None:
        fixed = rule.fixed * fx_rate(rule.fixed_currency, cur, table=table)
        percent = rule.percent
        if request.payer_country != request.payee_country:
            percent += rule.cross_border_percent
    fee = fixed + amount * percent / _HUNDRED
    if rule is not None:
        fee = max(fee, rule.min_fee * fx_rate(rule.fixed_currency, cur, table=table))
        if rule.max_fee is not None:
            fee = min(fee, rule.max_fee * fx_rate(rule.fixed_currency, cur, table=table))
    fee = quantize_money(fee, cur)
    fx_as_of: str | None = None
    if payee_cur == cur:
        mid = Decimal(1)
    elif fx_lock is not None:
        mid, fx_as_of = fx_lock.rate, fx_lock.as_of.isoformat()
    else:
        mid, fx_as_of = fx_rate(cur, payee_cur, table=table), table.as_of_for(cur, payee_cur).isoformat()
    margin = caps.fx_margin_percent if payee_cur != cur else Decimal(0)
    fx_cost = quantize_money(amount * margin / _HUNDRED, cur)
    settlement = settlement_estimate(caps, now)
    time_value = quantize_money(
        amount * annual_rate * Decimal(settlement.eta_seconds) / _SECONDS_PER_YEAR, cur
    )
    payee_amount = quantize_money(amount * mid * (1 - margin / _HUNDRED), payee_cur)
    return Quote(
        rail=caps.name,
        currency=cur,
        amount=amount,
        fee_fixed=quantize_money(fixed, cur),
        fee_percent=percent,
        fee_total=fee,
        fx_rate=mid,
        fx_margin_percent=margin,
        fx_cost=fx_cost,
        time_value_cost=time_value,
        total_cost=fee + fx_cost + time_value,
        payer_total=amount + fee,
        payee_currency=payee_cur,
        payee_amount=payee_amount,
        eta_seconds=settlement.eta_seconds,
        fx_as_of=fx_as_of,
        settles_at=settlement.settles_at.isoformat(),
        eta_business_days=settlement.business_days,
    )


class RailAdapter(ABC):
    """One rail: quote, initiate, status, cancel/refund and webhooks.

    ``initiate`` must pass ``attempt.id`` to the provider as its idempotency
    key, so a replay after a crash returns the same provider payment.
    """

    provider: str = ""

    def __init__(self, caps: RailCapabilities) -> None:
        self.caps = caps

    @property
    def name(self) -> str:
        return self.caps.name

    def capabilities(self) -> RailCapabilities:
        return self.caps

    def quote(
        self,
        request: PaymentRequest,
        *,
        table: RateTable,
        annual_rate: Decimal,
        now: datetime,
        fx_lock: FxLock | None = None,
    ) -> Quote:
        return quote_compute(
            self.caps, request, table=table, annual_rate=annual_rate, now=now, fx_lock=fx_lock
        )

    @abstractmethod
    def initiate(self, *, payment: OrchestrationPayment, attempt: PaymentAttempt) -> InitiateResult: ...

    @abstractmethod
    def status(self, *, external_id: str) -> StatusResult: ...

    @abstractmethod
    def cancel(self, *, external_id: str) -> bool: ...

    @abstractmethod
    def refund(
        self, *, external_id: str, amount: Decimal, currency: str, idempotency_key: str
    ) -> RefundResult:
        """Refund ``amount`` of the settled provider payment ``external_id``, exactly once per key."""

    @abstractmethod
    def refund_status(self, *, external_refund_id: str) -> RefundResult: ...

    @abstractmethod
    def health(self) -> bool: ...

    @abstractmethod
    def webhook_verify(self, *, headers: dict[str, str], body: bytes) -> None: ...

    @abstractmethod
    def webhook_parse(self, *, body: bytes) -> RailWebhook: ...


# --- the signature scheme of the sandbox providers ("t=<unix>,v1=<hex hmac>") ---
SIGNATURE_TOLERANCE_SECONDS = 300


def hmac_signature_header(*, secret: str, body: bytes, timestamp: int | None = None) -> str:
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def hmac_signature_verify(*, secret: str, body: bytes, header: str | None, now: float | None = None) -> None:
    """Verify a ``t=..,v1=..`` header (constant-time compare, replay window)."""
    if not header:
        raise WebhookVerificationError("Missing signature header.")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        k, _, v = item.strip().partition("=")
        parts.setdefault(k, []).append(v)
    try:
        t = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError("Malformed signature header.") from exc
    if abs((now or time.time()) - t) > SIGNATURE_TOLERANCE_SECONDS:
        raise WebhookVerificationError("Signature timestamp outside the tolerance window.")
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for v in parts.get("v1", [])):
        raise WebhookVerificationError("Signature mismatch.")
