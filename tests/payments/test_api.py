from __future__ import annotations

import threading

import pytest

from apps.payments.choices import PaymentStatus
from apps.payments.idempotency import idempotency_begin, request_fingerprint
from apps.payments.models import IdempotencyRecord, OrchestrationPayment

pytestmark = pytest.mark.django_db

BODY = {
    "amount": "50.00",
    "currency": "BRL",
    "payer_country": "BR",
    "payee_country": "BR",
    "payee_identifiers": {"pix_key": "joao@example.com"},
    "payee_name": "João",
    "language": "pt",
}


@pytest.fixture(autouse=True)
def _approve(monkeypatch):
    from apps.payments import services

    """Compliance doubles (contract 3): approve everything, payers have basic KYC; no chat replies."""
    doubles = {
        "payment_compliance_decide": lambda *, payment, actor=None: services.FallbackComplianceDecision(),
        "customer_kyc_tier": lambda *, organization, party_ref: "basic",
        "conversation_payment_notify": None,
    }
    real = services._optional
    monkeypatch.setattr(services, "_optional", lambda m, n: doubles[n] if n in doubles else real(m, n))


def test_orchestrate_creates_and_explains(rails, auth_client):
    resp = auth_client.post("/api/v1/payments/orchestrate", BODY, format="json")
    assert resp.status_code == 201, resp.json()
    body = resp.json()
    assert body["selected_rail"] == "pix" and body["status"] == PaymentStatus.APPROVED
    assert body["explanation"].startswith("Você está pagando via PIX")
    assert [e["to_status"] for e in body["events"]] == ["created", "screening", "approved"]
    assert body["cost_breakdown"]["fee_total"] == "0.20"
    alt = auth_client.get(f"/api/v1/payments/{body['id']}/alternatives").json()
    assert alt["selected_rail"] == "pix" and alt["alternatives"][0]["quote"]["total_cost"]
    assert auth_client.get(f"/api/v1/payments/{body['id']}").json()["id"] == body["id"]


def test_idempotency_same_body_replays(rails, auth_client):
    first = auth_client.post("/api/v1/payments/orchestrate", BODY, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    again = auth_client.post("/api/v1/payments/orchestrate", BODY, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.json() == first.json()
    assert OrchestrationPayment.objects.count() == 1


def test_idempotency_other_body_is_422(rails, auth_client):
    auth_client.post("/api/v1/payments/orchestrate", BODY, format="json", HTTP_IDEMPOTENCY_KEY="abc")
    resp = auth_client.post(
        "/api/v1/payments/orchestrate", {**BODY, "amount": "51.00"}, format="json", HTTP_IDEMPOTENCY_KEY="abc"
    )
    assert resp.status_code == 422 and resp.json()["code"] == "idempotency_key_reused"
    assert OrchestrationPayment.objects.count() == 1


def test_idempotency_in_flight_is_409_with_retry_after(rails, auth_client, organization, user):
    # given the first request with this key is still running (its record is reserved, not completed)
    path = "/api/v1/payments/orchestrate"
    scope = f"{organization.pk}:{user.pk}:POST:{path}"
    idempotency_begin(scope=scope, key="busy", fingerprint=request_fingerprint(BODY))
    # when the client retries
    resp = auth_client.post(path, BODY, format="json", HTTP_IDEMPOTENCY_KEY="busy")
    # then
    assert resp.status_code == 409 and resp.json()["code"] == "idempotency_request_in_flight"
    assert resp.headers["Retry-After"] == "1"
    assert OrchestrationPayment.objects.count() == 0


def test_a_key_left_in_flight_by_a_dead_process_is_taken_over_by_the_retry(
    rails, auth_client, organization, user
):
    from datetime import timedelta

    from django.utils import timezone

    # given a key reserved 10 minutes ago by a process that died before answering
    path = "/api/v1/payments/orchestrate"
    scope = f"{organization.pk}:{user.pk}:POST:{path}"
    record = idempotency_begin(scope=scope, key="orphan", fingerprint=request_fingerprint(BODY))
    IdempotencyRecord.objects.filter(pk=record.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    # when the client retries, the retry does the work and answers, and a second retry replays it
    first = auth_client.post(path, BODY, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    again = auth_client.post(path, BODY, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json()["id"] == first.json()["id"]
    assert OrchestrationPayment.objects.count() == 1
    # and a retry with another body is still refused
    other = auth_client.post(path, {**BODY, "amount": "51.00"}, format="json", HTTP_IDEMPOTENCY_KEY="orphan")
    assert other.status_code == 422


def test_idempotency_keys_are_kept_at_least_24h_and_errors_are_replayed(rails, auth_client):
    from datetime import timedelta

    from django.utils import timezone

    bad = {**BODY, "currency": "XYZ"}
    first = auth_client.post("/api/v1/payments/orchestrate", bad, format="json", HTTP_IDEMPOTENCY_KEY="e1")
    again = auth_client.post("/api/v1/payments/orchestrate", bad, format="json", HTTP_IDEMPOTENCY_KEY="e1")
    assert first.status_code == again.status_code == 422 and again.headers["Idempotent-Replayed"] == "true"
    record = IdempotencyRecord.objects.get(key="e1")
    assert record.expires_at - record.created_at >= timedelta(hours=24)
    assert record.expires_at > timezone.now() + timedelta(hours=23)


def test_quote_lists_ranked_options_and_creates_nothing(rails, auth_client):
    resp = auth_client.post(
        "/api/v1/payments/quote",
        {
            **BODY,
            "currency": "USD",
            "payee_currency": "BRL",
            "payer_country": "US",
            "payer_ref": "ana",  # a known payer: an unknown one has tier "none" and Wise needs basic
            "language": "en",
            "payee_identifiers": {"email": "a@b.test", "pix_key": "x"},
        },
        format="json",
    )
    assert resp.status_code == 200, resp.json()
    body = resp.json()
    ranked = [body["selected"], *body["alternatives"]]
    assert [o["score"] for o in ranked] == sorted((o["score"] for o in ranked), reverse=True)
    assert body["selected"]["rail"] == "wise" and body["excluded"]["pix"] == "currency_not_supported"
    assert OrchestrationPayment.objects.count() == 0


def test_bad_input_is_a_clear_4xx(rails, auth_client):
    resp = auth_client.post("/api/v1/payments/orchestrate", {**BODY, "amount": "-3"}, format="json")
    assert (
        resp.status_code == 400
        and resp.json()["code"] == "validation_error"
        and "amount" in resp.json()["errors"]
    )
    resp = auth_client.post(
        "/api/v1/payments/orchestrate", {**BODY, "amount": "0.10", "payee_identifiers": {}}, format="json"
    )
    assert resp.status_code == 422 and resp.json()["code"] == "no_eligible_rail"
    assert resp.json()["excluded"]["pix"].startswith("missing_payee_identifier")


def test_fallback_and_cancel_endpoints(rails, auth_client):
    pid = auth_client.post("/api/v1/payments/orchestrate", BODY, format="json").json()["id"]
    moved = auth_client.post(f"/api/v1/payments/{pid}/fallback", {"reason": "try another"}, format="json")
    assert moved.status_code == 200 and moved.json()["selected_rail"] != "pix"
    cancelled = auth_client.post(f"/api/v1/payments/{pid}/cancel", {}, format="json")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again = auth_client.post(f"/api/v1/payments/{pid}/cancel", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "payment_not_cancellable"


def test_api_key_needs_payments_write_scope(rails, organization):
    from rest_framework.test import APIClient

    from apps.core.services import api_key_create

    _, raw = api_key_create(organization=organization, name="ro", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.post("/api/v1/payments/orchestrate", BODY, format="json").status_code == 403
    _, raw = api_key_create(organization=organization, name="rw", scopes=["payments:write"])
    client.credentials(HTTP_X_API_KEY=raw)
    resp = client.post("/api/v1/payments/orchestrate", BODY, format="json")
    assert resp.status_code == 201
    assert OrchestrationPayment.objects.get().created_by_api_key is not None


def test_other_organisations_payments_are_invisible(rails, auth_client):
    from tests.factories import PaymentFactory

    other = PaymentFactory()
    assert auth_client.get(f"/api/v1/payments/{other.pk}").status_code == 404
    assert auth_client.post(f"/api/v1/payments/{other.pk}/cancel", {}, format="json").status_code == 404


def test_rails_endpoints(rails, auth_client):
    listed = auth_client.get("/api/v1/rails").json()
    assert {r["name"] for r in listed} == {"pix", "payto", "stripe", "wise", "sepa", "sepa_instant", "usdc"}
    caps = auth_client.get("/api/v1/rails/sepa_instant/capabilities").json()
    assert caps["max_amount"] == "100000.0000" and caps["fees"]["EUR"]["fixed"] == "0.2000"
    status = auth_client.get("/api/v1/rails/pix/status").json()
    assert status["rail_name"] == "pix" and status["circuit_state"] == "closed"
    assert auth_client.get("/api/v1/rails/nope/capabilities").status_code == 404


def test_preferences_get_put_and_they_change_routing(rails, auth_client, user):
    url = f"/api/v1/users/{user.pk}/preferences"
    assert auth_client.get(url).json() == {"preferred_rails": [], "cost_weight": 0.7, "default_currency": ""}
    resp = auth_client.put(
        url, {"preferred_rails": ["usdc"], "cost_weight": 0.0, "default_currency": "usd"}, format="json"
    )
    assert resp.status_code == 200 and resp.json()["default_currency"] == "USD"
    bad = auth_client.put(url, {"preferred_rails": ["nope"], "cost_weight": 0.5}, format="json")
    assert bad.status_code == 422 and bad.json()["code"] == "unknown_rail"
    quote = auth_client.post(
        "/api/v1/payments/quote",
        {
            **BODY,
            "currency": "EUR",
            "payer_country": "ES",
            "payee_country": "DE",
            "amount": "10.00",
            "payee_identifiers": {"iban": "DE89370400440532013000"},
        },
        format="json",
    ).json()
    assert quote["selected"]["rail"] == "sepa_instant"
    assert auth_client.get("/api/v1/users/someone-else/preferences").status_code == 403


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_identical_submits_make_one_payment(rails, user, organization):
    from rest_framework.test import APIClient
    from rest_framework_simplejwt.tokens import AccessToken

    token = str(AccessToken.for_user(user))
    barrier = threading.Barrier(2)
    results: list[int] = []

    def submit() -> None:
        from django.db import connection

        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        barrier.wait()
        try:
            results.append(
                client.post(
                    "/api/v1/payments/orchestrate", BODY, format="json", HTTP_IDEMPOTENCY_KEY="same"
                ).status_code
            )
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) in ([201, 201], [201, 409])
    assert OrchestrationPayment.objects.filter(organization=organization).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_service_calls_with_one_key_make_one_payment(rails, user, organization):
    from apps.payments import services
    from tests.payments.conftest import make_request

    barrier = threading.Barrier(4)
    ids: list[str] = []

    def call() -> None:
        from django.db import connection

        barrier.wait()
        try:
            p = services.payment_orchestrate(
                organization=organization, actor=user, request=make_request(), idempotency_key="svc"
            )
            ids.append(str(p.pk))
        finally:
            connection.close()

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ids) == 4 and len(set(ids)) == 1
    assert OrchestrationPayment.objects.filter(organization=organization).count() == 1
