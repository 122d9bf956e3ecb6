"""Typed results of the intent engine (contract 1). Everything here is JSON-serialisable via ``to_dict``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class AmountEntity:
    value: Decimal
    currency: str | None
    role: str  # "amount" | "total" | "share"
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["value"] = str(self.value)
        return d


@dataclass(frozen=True)
class DateEntity:
    value: str  # ISO date or datetime
    kind: str  # "date" | "deadline"
    start: int
    end: int
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PartyEntity:
    kind: str
    value: str
    valid: bool | None
    start: int
    end: int
    text: str
    subkind: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class IntentResult:
    intent: str
    confidence: float
    tier: str  # "cache" | "rules" | "model" | "llm"
    language: str  # "en" | "pt" | "es" | "und"
    amounts: list[AmountEntity] = field(default_factory=list)
    dates: list[DateEntity] = field(default_factory=list)
    parties: list[PartyEntity] = field(default_factory=list)
    recurrence: str | None = None
    purpose: str | None = None
    urgency: str | None = None
    rail_hint: str | None = None
    processing_time_ms: float = 0.0
    # What the conversation context supplied ("amount", "currency", "party", "pending_confirmation").
    context_used: list[str] = field(default_factory=list)
    # For confirm/decline: the pending action this answers (from the context), else None.
    refers_to: dict[str, Any] | None = None
    # Set when the text could not be analysed (empty, binary, too long): intent is then "none".
    error: str | None = None

    @property
    def amount(self) -> AmountEntity | None:
        """The primary amount: the total when there is one, else the first amount."""
        for a in self.amounts:
            if a.role == "total":
                return a
        for a in self.amounts:
            if a.role == "amount":
                return a
        return self.amounts[0] if self.amounts else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "intent": self.intent,
            "confidence": round(self.confidence, 4),
            "tier": self.tier,
            "language": self.language,
            "amounts": [a.to_dict() for a in self.amounts],
            "dates": [d.to_dict() for d in self.dates],
            "parties": [p.to_dict() for p in self.parties],
            "recurrence": self.recurrence,
            "purpose": self.purpose,
            "urgency": self.urgency,
            "rail_hint": self.rail_hint,
            "processing_time_ms": round(self.processing_time_ms, 3),
            "context_used": list(self.context_used),
            "refers_to": self.refers_to,
            "error": self.error,
        }
