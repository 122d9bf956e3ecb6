"""Typed results crossing the compliance boundary (contract 3)."""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class ComplianceDecision:
    """What ``payment_compliance_decide`` returns; payments maps it to a status transition."""

    decision: str  # "approve" | "review" | "block"
    score: float
    reasons: list[dict[str, Any]]
    case_id: uuid.UUID | None
    decision_id: uuid.UUID

    @property
    def approved(self) -> bool:
        return self.decision == "approve"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["case_id"] = str(self.case_id) if self.case_id else None
        data["decision_id"] = str(self.decision_id)
        return data


@dataclass(frozen=True)
class RuleOutcome:
    """One rule that fired: its score and a human-readable reason."""

    code: str
    message: str
    score: float
    action: str = "score"  # score | review | block
    rule_version: int | None = None
    shadow: bool = False
    data: dict[str, Any] = dataclasses.field(default_factory=dict)

    def reason(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message, "score": self.score}
        if self.rule_version is not None:
            out["rule_version"] = self.rule_version
        if self.action != "score":
            out["action"] = self.action
        if self.data:
            out["data"] = self.data
        return out


@dataclass(frozen=True)
class ScreeningHit:
    """A sanctions list entry a name (or address) matched, with the match score in [0, 1]."""

    entity_id: int
    source: str
    external_id: str
    name: str
    matched_name: str
    score: float
    strength: str  # "strong" | "weak"
    field: str = "name"  # name | crypto_address
    details: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
