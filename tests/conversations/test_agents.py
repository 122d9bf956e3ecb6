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
    [call] = backend.analyzed
    # without a session each message is analysed on its own (no context, no conversation language)
    assert (call["text"], call["language"], call["context"], call["organization_currency"]) == (
        "pay ana R$ 30 via pix",
        None,
        None,
        "BRL",
    )


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
    # the caller's key is scoped to the API key for payments
    assert call["idempotency_key"] == f"agent:apikey:{key.prefix}:order-1"
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


# --- idempotency keys belong to the caller -------------------------------------------
def test_two_keys_with_the_same_idempotency_key_get_their_own_payments(
    org: Any, backend: AgentBackendDouble
) -> None:
    # given two agents of one organisation that happen to use the same Idempotency-Key
    _, first_agent = key_client(org, ["payments:write"])
    _, second_agent = key_client(org, ["payments:write"])
    # when each creates a payment with it, and each retries
    first = first_agent.post(
        "/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    second = second_agent.post(
        "/api/v1/agents/payments", {**PIX_PAYMENT, "amount": "12"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    first_again = first_agent.post(
        "/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="k-1"
    )
    # then each got its own payment, and a retry its own again
    assert (first.status_code, second.status_code, first_again.status_code) == (201, 201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert (first.json()["amount"], second.json()["amount"]) == ("30.0000", "12.0000")
    assert first_again.json()["id"] == first.json()["id"]
    assert len(backend.orchestrated) == 2


def test_a_person_and_a_key_with_the_same_idempotency_key_get_their_own_payments(
    auth_client: APIClient, organization: Any, user: Any, backend: AgentBackendDouble
) -> None:
    _, agent = key_client(organization, ["payments:write"])
    by_key = agent.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="same")
    by_person = auth_client.post(
        "/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="same"
    )
    assert by_key.json()["id"] != by_person.json()["id"]
    assert backend.orchestrated[1]["idempotency_key"] == f"agent:user:{user.pk}:same"


def test_an_idempotency_key_reused_for_another_amount_is_refused(
    org: Any, backend: AgentBackendDouble
) -> None:
    _, client = key_client(org, ["payments:write"])
    first = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="k-2")
    other = client.post(
        "/api/v1/agents/payments", {**PIX_PAYMENT, "amount": "31"}, format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert other.json()["payment_id"] == first.json()["id"]
    assert len(backend.orchestrated) == 1


def test_a_payment_made_before_keys_were_scoped_is_found_by_its_own_key_only(
    org: Any, backend: AgentBackendDouble
) -> None:
    # given a payment stored with the bare key (as before keys were scoped) by one API key
    key, client = key_client(org, ["payments:write"])
    _, other_client = key_client(org, ["payments:write"])
    legacy: Any = PaymentFactory(
        organization=org, created_by_api_key=key, amount=Money("30", "BRL"), idempotency_key="old-1"
    )
    # when that key retries, it gets it; another key gets a new payment
    retried = client.post("/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="old-1")
    other = other_client.post(
        "/api/v1/agents/payments", PIX_PAYMENT, format="json", HTTP_IDEMPOTENCY_KEY="old-1"
    )
    assert retried.json()["id"] == str(legacy.pk)
    assert other.status_code == 201 and other.json()["id"] != str(legacy.pk)
    assert len(backend.orchestrated) == 1


# --- agent conversations ----------------------------------------------------------------
@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict[str, Any]]]:
    """What reaches the channel layer (after commit), in order."""
    sent: list[tuple[list[str], dict[str, Any]]] = []
    monkeypatch.setattr("apps.core.events._send", lambda groups, message: sent.append((groups, message)))
    return sent


def test_analyze_stores_the_message_in_the_agents_conversation_and_broadcasts_it(
    org: Any, backend: AgentBackendDouble, published: list, django_capture_on_commit_callbacks: Any
) -> None:
    from apps.conversations.models import Conversation, ConversationMessage

    key, client = key_client(org, ["intent"])
    # when the agent analyses a message of its session "thread-7"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/agents/analyze",
            {"text": "pay ana R$ 30 via pix", "session_id": "thread-7"},
            format="json",
        )
    # then the message is stored in the key's conversation for that session, with what was understood
    body = response.json()
    conversation = Conversation.objects.get(pk=body["conversation_id"])
    assert (conversation.platform, conversation.external_conversation_id) == (
        "agent",
        f"apikey:{key.prefix}:thread-7",
    )
    assert conversation.participants == [{"id": f"apikey:{key.prefix}", "name": "agent"}]
    message = ConversationMessage.objects.get(pk=body["message_id"])
    assert (message.direction, message.message_text, message.detected_intent, message.confidence_score) == (
        "inbound",
        "pay ana R$ 30 via pix",
        "send_payment",
        0.93,
    )
    # and it shows on the organisation's live feed like any platform's message, and nothing answered it
    events = [(m["event"], groups) for groups, m in published]
    assert events == [
        ("message_received", [f"org.{org.pk}", f"conversation.{conversation.pk}"]),
        ("intent_detected", [f"org.{org.pk}", f"conversation.{conversation.pk}"]),
    ]
    assert published[0][1]["data"]["platform"] == "agent"
    assert not conversation.outbound_messages.exists()


def test_a_session_keeps_its_context_and_conversations_are_per_key_and_session(
    org: Any, backend: AgentBackendDouble
) -> None:
    _, agent = key_client(org, ["intent"])
    _, other_agent = key_client(org, ["intent"])

    def analyze(client: APIClient, text: str, session: str | None = None) -> str:
        data = {"text": text, **({"session_id": session} if session else {})}
        return str(client.post("/api/v1/agents/analyze", data, format="json").json()["conversation_id"])

    first = analyze(agent, "pay ana R$ 30", "s-1")
    second = analyze(agent, "make it 45", "s-1")
    other_session = analyze(agent, "hello", "s-2")
    other_key = analyze(other_agent, "hello", "s-1")
    no_session = analyze(agent, "hi")
    assert first == second
    assert len({first, other_session, other_key, no_session}) == 4
    # the second message of the session was analysed with the context the first left
    assert backend.analyzed[1]["context"] == {"turns": 1, "last_intent": "send_payment"}
    assert backend.analyzed[0]["context"] is None and backend.analyzed[4]["context"] is None


def test_a_bad_session_id_is_a_validation_error(org: Any, backend: AgentBackendDouble) -> None:
    _, client = key_client(org, ["intent"])
    response = client.post("/api/v1/agents/analyze", {"text": "hi", "session_id": "x" * 129}, format="json")
    assert response.status_code == 400 and "session_id" in response.json()["errors"]
    assert backend.analyzed == []


def test_an_agent_payment_lives_in_the_agents_conversation_and_its_notices_are_replies(
    org: Any, backend: AgentBackendDouble, published: list, django_capture_on_commit_callbacks: Any
) -> None:
    from apps.conversations.models import Conversation, OutboundMessage
    from apps.payments.models import OrchestrationPayment
    from apps.payments.services import payment_event_emit, payment_transition

    key, client = key_client(org, ["payments:write"])
    # when the agent creates a payment in its session
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/agents/payments",
            {**PIX_PAYMENT, "session_id": "order-77"},
            format="json",
            HTTP_IDEMPOTENCY_KEY="pay-77",
        )
    # then the payment belongs to the key's conversation for that session, linked to the stored request
    payment = OrchestrationPayment.objects.get(pk=response.json()["id"])
    conversation = Conversation.objects.get(
        platform="agent", external_conversation_id=f"apikey:{key.prefix}:order-77"
    )
    assert payment.conversation_id == conversation.pk
    assert response.json()["conversation"] == str(conversation.pk)
    request_message = payment.conversation_message
    assert request_message is not None
    assert request_message.message_text == "[create_payment] R$ 30.00 to Ana"
    assert (
        request_message.raw["idempotency_key"] == "pay-77" and "payee_identifiers" not in request_message.raw
    )
    assert [m["event"] for _, m in published] == ["message_received"]

    # when payments settles it and tells the conversation (after commit, as it does)
    with django_capture_on_commit_callbacks(execute=True):
        payment_transition(payment=payment, to_status="screening", actor="test")
        payment_transition(payment=payment, to_status="approved", actor="test")
        payment_transition(payment=payment, to_status="initiated", actor="test")
        payment_transition(payment=payment, to_status="succeeded", actor="test")
        payment_event_emit(payment=payment, event="payment_completed")
    # then the receipt is a reply in the agent conversation, on its stream and the organisation's feed
    reply = OutboundMessage.objects.get(conversation=conversation)
    assert (
        reply.text == "Payment received ✓ R$ 30.00 to Ana."
        and reply.reply["receipt"]["status"] == "succeeded"
    )
    events = [m["event"] for _, m in published]
    assert events[1:] == ["payment_completed", "reply"]
    assert all(f"org.{org.pk}" in groups for groups, _ in published)
