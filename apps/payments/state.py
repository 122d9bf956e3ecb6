"""The one declared transition map of an ``OrchestrationPayment``.

Every status change goes through ``apps.payments.services.payment_transition``,
which enforces this map under a row lock and writes a ``PaymentEvent``.
"""

from __future__ import annotations

from apps.payments.choices import PaymentStatus as S

TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.SCREENING, S.CANCELLED, S.FAILED}),
    S.SCREENING: frozenset({S.APPROVED, S.ON_HOLD, S.BLOCKED, S.CANCELLED, S.FAILED}),
    S.ON_HOLD: frozenset({S.APPROVED, S.BLOCKED, S.CANCELLED}),
    # approved → approved = re-routed to another rail before the first one initiated
    S.APPROVED: frozenset({S.APPROVED, S.INITIATED, S.CANCELLED, S.FAILED}),
    # back to APPROVED = fall back to another rail and initiate again
    S.INITIATED: frozenset({S.PROCESSING, S.SUCCEEDED, S.FAILED, S.APPROVED, S.CANCELLED}),
    S.PROCESSING: frozenset({S.SUCCEEDED, S.FAILED, S.APPROVED, S.CANCELLED}),
    S.SUCCEEDED: frozenset({S.REFUNDED}),
    # a failed payment may be retried (manually) on another rail
    S.FAILED: frozenset({S.APPROVED}),
    S.BLOCKED: frozenset(),
    S.CANCELLED: frozenset(),
    S.REFUNDED: frozenset(),
}

TERMINAL: frozenset[str] = frozenset({S.SUCCEEDED, S.FAILED, S.BLOCKED, S.CANCELLED, S.REFUNDED})
IN_FLIGHT: frozenset[str] = frozenset({S.INITIATED, S.PROCESSING})


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())
