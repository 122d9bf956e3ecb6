"""AI-agent REST endpoints (/api/v1/agents/...): scopes, idempotency and per-key spending limits."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from djmoney.money import Money
from rest_framework.test import APIClient

from apps.core.services import api_key_create
from tests.conversations.conftest_b import AgentBackendDouble, agent_backend_install
from tests.factories import OrganizationFactory, PaymentFactory

pytestmark = pytest.mark.django_db

PIX_PAYMENT = {
    "amount": "30.00",
    "currency": "BRL",
    "payee_name": "Ana",
    "payee_identifiers": {"pix_key": "ana@example.com"},
    "preferred_rail": "pix",
}


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch) -> AgentBackendDouble:
    return agent_backend_install(monkeypatch)


@pytest.fixture
def org() -> Any:
    return OrganizationFactory(default_currency="BRL", country="BR", timezone="America/Sao_Paulo")


def key_client(org: Any, scopes: list[str], **limits: Any) -> tuple[Any, APIClient]:
    key, raw = api_key_create(organization=org, name="agent", scopes=scopes, **limits)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return key, client


def test_analyze_returns_intent_with_confidence(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(org, ["intent"])
    response = client.post("/api/v1/agents/analyze", {"text": "pay ana R$ 30 via pix"}, format="json")
    assert response.status_code == 200
    assert response.json()["intent"] == "send_payment"
    assert response.json()["confidence"] == 0.93
    assert backend.analyzed == [
        {"text": "pay ana R$ 30 via pix", "language": None, "organization_currency": "BRL"}
    ]


def test_analyze_needs_the_intent_scope(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(org, ["payments:write"])
    response = client.post("/api/v1/agents/analyze", {"text": "hi"}, format="json")
    assert response.status_code == 403
    assert backend.analyzed == []


def test_analyze_without_credentials_is_401(backend: AgentBackendDouble) -> None:
    response = APIClient().post("/api/v1/agents/analyze", {"text": "hi"}, format="json")
    assert response.status_code == 401


def test_quote_ranks_rails_and_creates_nothing(org: Any, backend: AgentBackendDouble) -> None:
    from apps.payments.models import OrchestrationPayment

    _, client = key_client(org, ["read"])
    response = client.post("/api/v1/agents/quote", {"amount": "30.00", "currency": "brl"}, format="json")
    assert response.status_code == 200
    assert response.json()["selected"]["rail"] == "pix"
    (request,) = backend.quoted
    assert (request.amount, request.currency, request.payer_country, request.payee_country) == (
        Decimal("30.00"),
        "BRL",
        "BR",
        "BR",
    )
    assert not OrchestrationPayment.objects.exists()


def test_quote_with_bad_input_is_400_with_field_errors(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(org, ["read"])
    response = client.post("/api/v1/agents/quote", {"amount": "-5", "currency": "R$"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_error"
    assert set(body["errors"]) == {"amount", "currency"}
    assert backend.quoted == []


def test_create_payment_is_idempotent(org: Any, backend: AgentBackendDouble) -> None:
    key, client = key_client(org, ["payments:write"])
    first = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    again = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="order-1")
    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["pix_emv"].startswith("000201")
    (call,) = backend.orchestrated
    assert call["idempotency_key"] == "order-1"
    assert call["actor"].api_key.pk == key.pk
    from apps.payments.models import OrchestrationPayment

    assert OrchestrationPayment.objects.get().created_by_api_key_id == key.pk


def test_create_payment_requires_an_idempotency_key(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(org, ["payments:write"])
    response = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"
    assert backend.orchestrated == []


def test_create_payment_needs_payments_write(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(org, ["read", "intent"])
    response = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 403
    assert backend.orchestrated == []


def test_per_payment_limit_refuses_larger_payments(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(
        org, ["payments:write"], spending_limit_per_payment=Decimal("25"), spending_limit_currency="BRL"
    )
    response = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "spending_limit_exceeded"
    assert (body["period"], body["limit"], body["currency"]) == ("payment", "25.0000", "BRL")
    assert backend.orchestrated == []


def test_daily_limit_counts_todays_payments_of_the_key(org: Any, backend: AgentBackendDouble) -> None:
    # given a key allowed 50 BRL a day that already paid 30 today (and had a failed 40)
    key, client = key_client(org, ["payments:write"], spending_limit_daily=Decimal("50"))
    PaymentFactory(organization=org, created_by_api_key=key, amount=Money("30", "BRL"), status="succeeded")
    PaymentFactory(organization=org, created_by_api_key=key, amount=Money("40", "BRL"), status="failed")
    # another key's spending is not this key's
    other_key, _ = key_client(org, ["payments:write"])
    PaymentFactory(organization=org, created_by_api_key=other_key, amount=Money("45", "BRL"))
    # when it asks for 20 more, then 30 more
    within = client.post(
        "/api/v1/agents/payments", {**PIX_PAYMENT, "amount": "20"}, format="json", HTTP_IDEMPOTENCY_KEY="a"
    )
    beyond = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="b")
    # then the first fits (30 + 20 = 50) and the second does not
    assert within.status_code == 201
    assert beyond.status_code == 403
    assert beyond.json()["period"] == "day"
    assert beyond.json()["spent"] == "50.0000"
    assert len(backend.orchestrated) == 1


def test_spending_limit_in_another_currency_is_refused(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(
        org, ["payments:write"], spending_limit_per_payment=Decimal("1000"), spending_limit_currency="EUR"
    )
    response = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 403
    assert response.json()["code"] == "spending_limit_currency"


def test_get_and_list_payments_are_scoped_to_the_organisation(org: Any, backend: AgentBackendDouble) -> None:
    mine: Any = PaymentFactory(organization=org, amount=Money("12.50", "BRL"), status="succeeded")
    foreign: Any = PaymentFactory(amount=Money("99", "BRL"))
    _, client = key_client(org, ["read"])
    got = client.get(f"/api/v1/agents/payments/{mine.pk}")
    assert got.status_code == 200
    assert (got.json()["amount"], got.json()["status"]) == ("12.5000", "succeeded")
    assert client.get(f"/api/v1/agents/payments/{foreign.pk}").json()["code"] == "payment_not_found"
    assert client.get("/api/v1/agents/payments/not-a-uuid").status_code == 404
    listed = client.get("/api/v1/agents/payments", {"status": "succeeded"})
    assert [p["id"] for p in listed.json()["payments"]] == [str(mine.pk)]


def test_people_may_use_the_agent_endpoints_without_key_limits(
    auth_client: APIClient, organization: Any, backend: AgentBackendDouble
) -> None:
    response = auth_client.post(
        "/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="human-1"
    )
    assert response.status_code == 201
    assert backend.orchestrated[0]["actor"].is_authenticated
