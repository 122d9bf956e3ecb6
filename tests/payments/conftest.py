from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

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
