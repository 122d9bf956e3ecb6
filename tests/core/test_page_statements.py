"""Pages of an unfiltered list reuse the statement compiled for their shape
(``apps.core.fastserializers._PagePlan``): the same rows and links as the ORM builds, never another
organisation's rows, and the ORM whenever the query string filters or the scope does not match."""

from __future__ import annotations

import datetime
from typing import Any

import orjson
import pytest
from django.db import connection
from django.utils import timezone
from djmoney.money import Money
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core import fastserializers
from apps.payments import selectors
from apps.payments.api.views import PaymentListView
from apps.payments.models import OrchestrationPayment
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _no_statements_kept() -> Any:
    fastserializers._PAGE_STATEMENTS.clear()
    yield
    fastserializers._PAGE_STATEMENTS.clear()


def _payments(organization, n, *, tie=0):
    made = [
        OrchestrationPayment.objects.create(
            organization=organization,
            amount=Money(f"{i + 1}.25", "BRL"),
            payee_ref=f"p{i}",
            status="succeeded",
            alternative_rails=[{"rail": "wise", "score": i}],
        )
        for i in range(n)
    ]
    base = timezone.now() - datetime.timedelta(hours=1)
    for i, p in enumerate(made):  # distinct times, but `tie` of them share one (the cursor's offset)
        at = base + datetime.timedelta(seconds=tie if i < tie else i)
        OrchestrationPayment.objects.filter(pk=p.pk).update(created_at=at)
    return made


def _client(organization):
    user = UserFactory()
    MembershipFactory(organization=organization, user=user, role="owner")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _walk(client: APIClient, url: str) -> list[dict[str, Any]]:
    """Every page forward from ``url``, then back from the last one through ``previous``."""
    bodies, next_url = [], url
    while next_url:
        bodies.append(client.get(next_url).json())
        next_url = bodies[-1]["next"]
    previous = bodies[-1]["previous"]
    while previous:
        bodies.append(client.get(previous).json())
        previous = bodies[-1]["previous"]
    return bodies


def test_pages_equal_the_pages_the_orm_builds(auth_client, organization, monkeypatch):
    _payments(organization, 9, tie=3)
    fast = _walk(auth_client, "/api/v1/payments?page_size=2")
    assert fastserializers._PAGE_STATEMENTS  # shapes were kept and reused
    monkeypatch.setattr(PaymentListView, "fixed_shape_params", lambda self: None)
    fastserializers._PAGE_STATEMENTS.clear()
    orm = _walk(auth_client, "/api/v1/payments?page_size=2")
    assert not fastserializers._PAGE_STATEMENTS
    assert fast == orm
    forward = [row["id"] for body in fast[:5] for row in body["results"]]
    assert len(forward) == 9 == len(set(forward))  # every payment once, ties included


def test_a_kept_shape_builds_no_queryset(auth_client, organization, monkeypatch):
    _payments(organization, 3)
    built = []
    real = selectors.payment_list
    monkeypatch.setattr(selectors, "payment_list", lambda **kw: built.append(1) or real(**kw))
    first = auth_client.get("/api/v1/payments?page_size=2").json()
    second = auth_client.get("/api/v1/payments?page_size=2").json()
    assert built == [1]  # compiled once; the second page of that shape reused the statement
    assert first == second and len(first["results"]) == 2


def test_another_organisation_never_gets_rows_from_a_shared_statement(auth_client, organization):
    mine = {str(p.pk) for p in _payments(organization, 2)}
    other_org = OrganizationFactory()
    theirs = {str(p.pk) for p in _payments(other_org, 3)}
    other = _client(other_org)
    for _ in range(2):
        assert {r["id"] for r in auth_client.get("/api/v1/payments").json()["results"]} == mine
        assert {r["id"] for r in other.get("/api/v1/payments").json()["results"]} == theirs
    assert len(fastserializers._PAGE_STATEMENTS) == 1  # one statement served both organisations


def test_a_scope_that_is_not_what_the_orm_binds_is_not_kept(auth_client, organization, monkeypatch):
    mine = {str(p.pk) for p in _payments(organization, 2)}
    _payments(OrganizationFactory(), 2)
    monkeypatch.setattr(PaymentListView, "fixed_shape_params", lambda self: ["not the organisation"])
    for _ in range(2):
        assert {r["id"] for r in auth_client.get("/api/v1/payments").json()["results"]} == mine
    assert not fastserializers._PAGE_STATEMENTS


def test_a_filtered_list_is_built_by_the_orm_every_time(auth_client, organization, monkeypatch):
    made = _payments(organization, 3)
    OrchestrationPayment.objects.filter(pk=made[0].pk).update(status="failed")
    built = []
    real = selectors.payment_list
    monkeypatch.setattr(selectors, "payment_list", lambda **kw: built.append(1) or real(**kw))
    for _ in range(2):
        body = auth_client.get("/api/v1/payments?status=failed").json()
        assert [r["id"] for r in body["results"]] == [str(made[0].pk)]
    assert built == [1, 1] and not fastserializers._PAGE_STATEMENTS


_BREAKDOWN = {
    "fee": "1.5000",
    "fx": {"rate": 5.1234, "margin_bps": 35, "pair": ["USD", "BRL"]},
    "note": "taxa de conversão \u2028 ação",
    "steps": [None, True, 0.00001, -3],
}


def test_json_columns_reach_the_renderer_as_their_text(auth_client, organization, monkeypatch):
    """A kept page hands the JSON columns to the API's renderer as the text the database returned
    (``orjson.Fragment``: not decoded, not re-encoded), and the document means what the ORM's does."""
    made = _payments(organization, 2)
    OrchestrationPayment.objects.filter(pk=made[0].pk).update(cost_breakdown=_BREAKDOWN, explanation="")
    auth_client.get("/api/v1/payments")  # the shape is compiled and kept
    response = auth_client.get("/api/v1/payments")
    rows = {row["id"]: row for row in response.data["results"]}
    assert isinstance(rows[str(made[0].pk)]["cost_breakdown"], orjson.Fragment)
    assert isinstance(rows[str(made[0].pk)]["alternative_rails"], orjson.Fragment)
    assert b"\\u2028" in response.content and "\u2028".encode() not in response.content  # escaped as DRF does
    fast = response.json()
    assert {r["id"]: r["cost_breakdown"] for r in fast["results"]}[str(made[0].pk)] == _BREAKDOWN
    monkeypatch.setattr(PaymentListView, "fixed_shape_params", lambda self: None)
    assert auth_client.get("/api/v1/payments").json() == fast  # the ORM's page, decoded and re-encoded


def test_the_browsable_api_gets_decoded_json(auth_client, organization):
    """A renderer that cannot take fragments (the browsable API's HTML) gets decoded values."""
    made = _payments(organization, 1)
    OrchestrationPayment.objects.filter(pk=made[0].pk).update(cost_breakdown=_BREAKDOWN)
    for _ in range(2):  # compiled, then kept
        response = auth_client.get("/api/v1/payments", HTTP_ACCEPT="text/html")
        assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
        assert response.data["results"][0]["cost_breakdown"] == _BREAKDOWN
        assert "margin_bps" in response.content.decode()


def _prepared_pages() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%payments_orchestrationpayment%"],
        )
        return int(cursor.fetchone()[0])


@pytest.mark.postgres
def test_a_kept_page_statement_is_prepared_once_per_connection(auth_client, organization, settings):
    _payments(organization, 3)
    settings.DB_PREPARED_STATEMENTS = True
    bodies = [auth_client.get("/api/v1/payments?page_size=2").json() for _ in range(3)]
    assert _prepared_pages() == 1  # one statement, planned once, executed three times
    assert bodies[0] == bodies[1] == bodies[2] and len(bodies[0]["results"]) == 2


@pytest.mark.postgres
def test_db_prepared_statements_off_prepares_nothing(auth_client, organization, settings):
    _payments(organization, 3)
    settings.DB_PREPARED_STATEMENTS = False
    for _ in range(3):
        assert len(auth_client.get("/api/v1/payments?page_size=2").json()["results"]) == 2
    assert _prepared_pages() == 0
