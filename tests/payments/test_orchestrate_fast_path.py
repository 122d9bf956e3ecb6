"""The orchestrate hot path: its 201 body is built from the rows it just wrote (no read-back) and
equals, byte for byte, what the serializer gives for the same payment read from the database;
its events are written in one INSERT yet carry the times of their transitions; its idempotent
answer is stored in the payment's own transaction."""

from __future__ import annotations

import json

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer

from apps.payments import selectors, services
from apps.payments.api.serializers import PaymentDetailSerializer
from apps.payments.choices import PaymentStatus
from apps.payments.models import IdempotencyRecord, OrchestrationPayment, PaymentEvent
from tests.payments.conftest import make_request

pytestmark = pytest.mark.django_db

BRL = {
    "amount": "50.00",
    "currency": "BRL",
    "payer_country": "BR",
    "payee_country": "BR",
    "payee_identifiers": {"pix_key": "joao@example.com"},
    "payee_name": "João Silva",
    "payee_ref": "joao",
    "payer_ref": "ana",
    "language": "pt",
}
# cross-currency: an FX lock in metadata, several priced alternatives (floats, nested objects)
USD_BRL = {
    "amount": "1234.5",
    "currency": "USD",
    "payee_currency": "BRL",
    "payer_country": "US",
    "payee_country": "BR",
    "payee_identifiers": {"pix_key": "joao@example.com", "email": "joao@example.com"},
    "payee_name": "João Silva",
    "payer_ref": "ana",
    "language": "es",
    "urgency": "instant",
}


def _stored_body(payment_id: str) -> bytes:
    """What the serializer answers for the payment as the database has it (the old read-back)."""
    payment = OrchestrationPayment.objects.prefetch_related("events", "rail_attempts", "refunds").get(
        pk=payment_id
    )
    return JSONRenderer().render(PaymentDetailSerializer(payment).data)


@pytest.mark.parametrize("body", [BRL, USD_BRL], ids=["brl", "usd_brl"])
@pytest.mark.parametrize("verdict", ["approve", "review", "block"])
def test_created_body_equals_the_serializer_on_the_stored_payment(
    rails, auth_client, compliance, body, verdict
):
    # given compliance answering ``verdict`` (its reasons carry floats and nested objects)
    compliance.verdict = verdict
    # when the payment is orchestrated
    resp = auth_client.post("/api/v1/payments/orchestrate", body, format="json")
    # then the 201 body is byte for byte the serializer's output for the stored payment
    assert resp.status_code == 201, resp.json()
    assert resp.content == _stored_body(resp.json()["id"])
    expected = {"approve": "approved", "review": "on_hold", "block": "blocked"}[verdict]
    assert resp.json()["status"] == expected
    assert [e["to_status"] for e in resp.json()["events"]] == ["created", "screening", expected]
    assert len(resp.json()["rail_attempts"]) == (1 if verdict == "approve" else 0)


def test_created_body_equals_the_serializer_with_real_compliance(rails, auth_client):
    resp = auth_client.post("/api/v1/payments/orchestrate", BRL, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert resp.status_code == 201, resp.json()
    assert resp.content == _stored_body(resp.json()["id"])
    # and the stored idempotent answer is that body too (replayed as it was stored)
    record = IdempotencyRecord.objects.get(key="k1")
    assert record.status == "completed" and record.response_status == 201
    assert record.response_body == resp.json()
    again = auth_client.post("/api/v1/payments/orchestrate", BRL, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == resp.json()


def test_the_body_is_not_read_back(rails, auth_client, compliance):
    with CaptureQueriesContext(connection) as queries:
        resp = auth_client.post("/api/v1/payments/orchestrate", BRL, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert resp.status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if s.startswith("SELECT") and "payments_paymentevent" in s]
    assert not [s for s in sql if s.startswith("SELECT") and "payments_paymentattempt" in s]
    assert not [s for s in sql if s.startswith("SELECT") and "payments_paymentrefund" in s]
    # one INSERT for the three events; the payment is inserted once, with its verdict, never updated
    assert len([s for s in sql if s.startswith('INSERT INTO "payments_paymentevent"')]) == 1
    assert len([s for s in sql if s.startswith('INSERT INTO "payments_orchestrationpayment"')]) == 1
    assert not [s for s in sql if s.startswith('UPDATE "payments_orchestrationpayment"')]
    payment = OrchestrationPayment.objects.get(pk=resp.json()["id"])
    assert payment.status == "approved" and payment.metadata["compliance"]["decision"] == "approve"


def test_events_written_together_keep_the_times_of_their_transitions(rails, organization, user):
    from apps.compliance.models import PaymentDecision

    # when a payment goes through the real compliance decision
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    # then its events are in order, and the decision falls between screening and the verdict
    events = list(payment.events.all())
    assert [e.to_status for e in events] == ["created", "screening", "approved"]
    decided = PaymentDecision.objects.get(payment_id=payment.pk).created_at
    assert events[0].created_at <= events[1].created_at < decided <= events[2].created_at
    assert [e.actor for e in events] == [f"user:{user.pk}", f"user:{user.pk}", "compliance"]


def test_a_failure_before_commit_rolls_back_the_payment_and_its_answer(rails, user, monkeypatch, compliance):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")

    def broken(*args, **kwargs):
        raise RuntimeError("serializer broke")

    # given building the answer fails inside the payment's transaction
    monkeypatch.setattr(selectors, "payment_detail_from_memory", broken)
    resp = client.post("/api/v1/payments/orchestrate", BRL, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    # then nothing of it stays: no payment, no answer, no reserved key
    assert resp.status_code == 500
    assert not OrchestrationPayment.objects.exists()
    assert not IdempotencyRecord.objects.filter(key="k3").exists()
    # and the client's retry makes the payment
    monkeypatch.undo()
    resp = client.post("/api/v1/payments/orchestrate", BRL, format="json", HTTP_IDEMPOTENCY_KEY="k3")
    assert resp.status_code == 201 and OrchestrationPayment.objects.count() == 1


def test_json_as_stored_matches_the_database(rails, organization, user):
    # given values whose key order and number spelling a database may change
    data = {
        "zz": 1,
        "a": [{"bbb": 1e16, "a": 1e-07, "cc": -0.0}, (1, 2)],
        "é": "ü",
        "mid": {"score": 0.30000000000000004, "big": 1.5e300, "n": None, "t": True},
    }
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    event = PaymentEvent.objects.create(payment=payment, to_status="created", data=data)
    # when it is read back
    stored = PaymentEvent.objects.get(pk=event.pk).data
    # then json_as_stored predicts it exactly, key order and types included
    predicted = selectors.json_as_stored(data, connection.vendor)
    assert json.dumps(predicted) == json.dumps(stored)


def test_a_refused_transition_leaves_the_callers_transaction_usable(rails, organization, user):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    with transaction.atomic():
        with pytest.raises(services.InvalidTransition):
            services.payment_transition(payment=payment, to_status=PaymentStatus.REFUNDED)
        # the transaction goes on
        services.payment_transition(payment=payment, to_status=PaymentStatus.CANCELLED, reason="changed mind")
    payment.refresh_from_db()
    assert payment.status == PaymentStatus.CANCELLED
    assert payment.events.order_by("-id").first().reason == "changed mind"


@pytest.mark.django_db(transaction=True)
def test_already_locked_needs_a_transaction(rails, organization, user):
    payment = services.payment_orchestrate(organization=organization, actor=user, request=make_request())
    # outside any transaction nobody can hold the row lock
    with pytest.raises(transaction.TransactionManagementError):
        services.payment_transition(payment=payment, to_status=PaymentStatus.CANCELLED, already_locked=True)
    assert not payment.events.filter(to_status=PaymentStatus.CANCELLED).exists()


@pytest.mark.django_db(transaction=True)
def test_statements_of_an_idempotent_orchestrate(rails, auth_client, compliance, monkeypatch):
    # given a warm caller (its auth lookups cached) and the kick muted (the outbox is not the subject)
    monkeypatch.setattr(services, "_outbox_kick", lambda message_id, delay=0.0: None)
    assert auth_client.post("/api/v1/payments/orchestrate", BRL, format="json").status_code == 201
    # when a payment is orchestrated with an Idempotency-Key, outside any test transaction
    with CaptureQueriesContext(connection) as queries:
        resp = auth_client.post("/api/v1/payments/orchestrate", BRL, format="json", HTTP_IDEMPOTENCY_KEY="k4")
    assert resp.status_code == 201
    sql = [q["sql"] for q in queries.captured_queries]
    # then no savepoint is needed, and payments' own statements are these seven
    assert not [s for s in sql if "SAVEPOINT" in s]
    ours = [s.split(" (")[0].split(" SET ")[0] for s in sql if '"payments_' in s.split(" WHERE ")[0]]
    assert [" ".join(s.split()[:3]) for s in ours] == [
        'INSERT INTO "payments_idempotencyrecord"',  # reserved, committed at once (autocommit)
        'SELECT "payments_userpreferences"."preferred_rails" AS',  # the three columns routing reads
        'INSERT INTO "payments_orchestrationpayment"',  # with compliance's verdict
        'INSERT INTO "payments_paymentevent"',  # the three events
        'INSERT INTO "payments_paymentattempt"',
        'INSERT INTO "payments_outboxmessage"',
        'UPDATE "payments_idempotencyrecord"',  # the answer, in the payment's transaction
    ]
