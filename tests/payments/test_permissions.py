"""Who may move money: roles for people, scopes for API keys (deny by default)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.services import api_key_create
from apps.payments.models import OrchestrationPayment
from tests.factories import MembershipFactory, UserFactory
from tests.payments.test_api import BODY

pytestmark = pytest.mark.django_db


def _person(organization, role: str) -> APIClient:
    user: Any = UserFactory()
    MembershipFactory(organization=organization, user=user, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def _key(organization, *scopes: str) -> APIClient:
    _, raw = api_key_create(organization=organization, name="k", scopes=list(scopes))
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("owner", True), ("finance", True), ("developer", True), ("compliance_reviewer", False)],
)
def test_only_paying_roles_originate_payments(rails, organization, role, allowed):
    resp = _person(organization, role).post("/api/v1/payments/orchestrate", BODY, format="json")
    if allowed:
        assert resp.status_code == 201
    else:
        assert resp.status_code == 403 and resp.json()["code"] == "permission_denied"
        assert not OrchestrationPayment.objects.exists()


def test_reviewers_still_read_payments(rails, organization):
    assert _person(organization, "compliance_reviewer").get("/api/v1/payments").status_code == 200


def test_api_key_scopes_deny_writes_by_default(rails, organization):
    reader = _key(organization, "read")
    # reading and quoting (which creates nothing) need only "read"
    assert reader.get("/api/v1/payments").status_code == 200
    assert reader.post("/api/v1/payments/quote", BODY, format="json").status_code == 200
    # paying needs payments:write
    assert reader.post("/api/v1/payments/orchestrate", BODY, format="json").status_code == 403
    assert (
        _key(organization, "payments:write")
        .post("/api/v1/payments/orchestrate", BODY, format="json")
        .status_code
        == 201
    )
    # a write endpoint that names no scope is closed to keys without admin
    user = UserFactory()
    MembershipFactory(organization=organization, user=user, role="owner")
    put = {"preferred_rails": ["pix"], "cost_weight": 0.5, "default_currency": "BRL"}
    assert reader.put(f"/api/v1/users/{user.pk}/preferences", put, format="json").status_code == 403
