"""Typed values that cross the payments boundary (contract 2)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any


@dataclass
class PaymentRequest:
    """What someone wants paid; input of ``payment_quote`` and ``payment_orchestrate``."""

    amount: Decimal
    currency: str
    payer_country: str
    payee_country: str
    payee_currency: str | None = None
    urgency: str = "normal"  # instant | normal | low
    payee_identifiers: dict[str, str] = field(default_factory=dict)
    preferred_rail: str | None = None
    payer_ref: str = ""
    payee_ref: str = ""
    payee_name: str = ""
    purpose: str = ""
    language: str = "en"
    kyc_tier: str | None = None
    fx_lock_id: str | None = None  # from a quote: convert at that locked rate

    def __post_init__(self) -> None:
        self.amount = Decimal(str(self.amount))
        self.currency = self.currency.upper()
        self.payer_country = self.payer_country.upper()
        self.payee_country = self.payee_country.upper()
        self.payee_currency = (self.payee_currency or self.currency).upper()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["amount"] = str(self.amount)
        return data


@dataclass(frozen=True)
class Preferences:
    """A user's routing weights: ``cost_weight`` 1.0 = cheapest only, 0.0 = fastest only."""

    preferred_rails: tuple[str, ...] = ()
    cost_weight: float = 0.7
    default_currency: str = ""


@dataclass(frozen=True)
class Quote:
    """One rail's price for a request, in the payer's currency unless named otherwise."""

    rail: str
    currency: str
    amount: Decimal
    fee_fixed: Decimal
    fee_percent: Decimal
    fee_total: Decimal
    fx_rate: Decimal  # payee units per payer unit, mid-market
    fx_margin_percent: Decimal
    fx_cost: Decimal
    time_value_cost: Decimal
    total_cost: Decimal  # fee + FX spread + time value of money
    payer_total: Decimal  # what leaves the payer's account
    payee_currency: str
    payee_amount: Decimal  # what arrives
    eta_seconds: int  # until it settles, operating hours and cut-offs included
    fx_as_of: str | None = None
    settles_at: str | None = None  # ISO 8601
    eta_business_days: int | None = None  # for rails that settle in business days

    def to_dict(self) -> dict[str, Any]:
        return {k: (str(v) if isinstance(v, Decimal) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class RailOption:
    """A rail that could carry the payment, with its quote and routing score (higher is better)."""

    rail: str
    display_name: str
    quote: Quote
    score: float
    success_rate: float
    eta_text: str
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "rail": self.rail,
            "display_name": self.display_name,
            "score": round(self.score, 4),
            "success_rate": round(self.success_rate, 4),
            "eta_text": self.eta_text,
            "quote": self.quote.to_dict(),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class RoutingDecision:
    """The chosen rail, the ranked alternatives and why; deterministic for the same inputs."""

    selected: RailOption
    alternatives: tuple[RailOption, ...]
    excluded: dict[str, str]
    explanation: str
    explanation_data: dict[str, Any]
    fx_lock_id: str | None = None
    fx_lock_expires_at: str | None = None

    @property
    def ranked(self) -> tuple[RailOption, ...]:
        return (self.selected, *self.alternatives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "selected": self.selected.to_dict(),
            "alternatives": [o.to_dict() for o in self.alternatives],
            "excluded": dict(self.excluded),
            "explanation": self.explanation,
            "explanation_data": self.explanation_data,
            "fx_lock_id": self.fx_lock_id,
            "fx_lock_expires_at": self.fx_lock_expires_at,
        }
