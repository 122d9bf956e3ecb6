from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest

from apps.payments import services
from apps.payments.choices import PaymentStatus
from apps.payments.types import PaymentRequest


@pytest.fixture(autouse=True)
def _fresh_payment_caches(settings: Any) -> Iterator[None]:
    """Module-level caches (catalogue, FX table) must not leak between tests."""
    from apps.payments import circuit
    from apps.payments.fx import services as fx
    from apps.payments.rails import registry

    settings.PAYMENTS_SANDBOX_LATENCY_SECONDS = "0"
    registry._catalog = None
    fx.fx_table_reset()
    circuit._local_clear()
    yield
    registry._catalog = None
    fx.fx_table_reset()


def make_request(**overrides: Any) -> PaymentRequest:
    data: dict[str, Any] = {
        "amount": Decimal("100.00"),
        "currency": "BRL",
        "payer_country": "BR",
        "payee_country": "BR",
        "payee_identifiers": {"pix_key": "joao@example.com"},
        "payee_name": "João Silva",
        "payee_ref": "joao",
        "payer_ref": "ana",
    }
    data.update(overrides)
    return PaymentRequest(**data)


@pytest.fixture
def brl_request() -> PaymentRequest:
    return make_request()


def set_rail(name: str, **fields: Any) -> None:
    from apps.payments.models import RailDefinition
    from apps.payments.rails.registry import rail_catalog_invalidate

    RailDefinition.objects.filter(name=name).update(**fields)
    rail_catalog_invalidate()


@dataclass
class DecisionDouble:
    decision: str
    score: float = 10
    reasons: list[dict[str, Any]] = field(default_factory=list)
    case_id: Any = None
    decision_id: Any = "dec-1"


@pytest.fixture
def compliance(monkeypatch):
    """A compliance double honouring contract 3; ``calls`` records what it saw."""

    class Double:
        verdict = "approve"
        calls: list[Any] = []

        def decide(self, *, payment, actor=None):
            self.calls.append(payment.pk)
            assert payment.status == PaymentStatus.SCREENING  # decided before initiation
            return DecisionDouble(self.verdict, reasons=[{"code": "r", "message": "m", "score": 1}])

    double = Double()
    real = services._optional

    def optional(module, name):
        if name == "payment_compliance_decide":
            return double.decide
        if name == "customer_kyc_tier":
            return lambda *, organization, party_ref: "basic"
        return real(module, name)

    monkeypatch.setattr(services, "_optional", optional)
    return double


@pytest.fixture
def published(monkeypatch, compliance):
    """Stream broadcasts of payment events (the conversation hook is stubbed: its own tests cover it)."""
    sent: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(
        "apps.core.events._send",
        lambda groups, message: (
            sent.append((groups, message)) if message["event"].startswith("payment_") else None
        ),
    )
    monkeypatch.setattr(services, "_notify_conversation", lambda payment_id, event: None)
    return sent


def dead_and_failed(organization: Any, user: Any, settings: Any) -> tuple[Any, Any]:
    """A payment whose only allowed attempt died in the outbox, so it failed."""
    from apps.payments.models import OutboxMessage
    from apps.payments.rails.base import RailTransientError
    from apps.payments.rails.pix.adapter import PixAdapter

    settings.PAYMENTS_MAX_TRANSIENT_RETRIES = 0
    settings.PAYMENTS_MAX_RAIL_ATTEMPTS = 1
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    message = OutboxMessage.objects.get(payment=payment)
    with mock.patch.object(PixAdapter, "initiate", side_effect=RailTransientError("timeout")):
        assert services.outbox_message_process(message_id=message.pk) == "dead"
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.FAILED
    return payment, message
