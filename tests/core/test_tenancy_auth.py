from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.services import api_key_create, api_key_revoke, api_key_rotate
from tests.factories import MembershipFactory, OrganizationFactory, PaymentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_organization_a_gets_404_for_organization_b_payment(auth_client, organization):
    # given a payment in another organisation and one in ours
    other = OrganizationFactory()
    theirs = PaymentFactory(organization=other)
    ours = PaymentFactory(organization=organization)
    # when we fetch both
    resp_theirs = auth_client.get(f"/api/v1/payments/{theirs.pk}")
    resp_ours = auth_client.get(f"/api/v1/payments/{ours.pk}")
    # then theirs does not exist for us, ours does
    assert resp_theirs.status_code == 404
    assert resp_theirs.json()["code"] == "payment_not_found"
    assert resp_ours.status_code == 200
    assert resp_ours.json()["id"] == str(ours.pk)


def test_list_is_scoped_to_the_callers_organization(auth_client, organization):
    PaymentFactory.create_batch(3, organization=organization)
    PaymentFactory.create_batch(2, organization=OrganizationFactory())
    body = auth_client.get("/api/v1/payments").json()
    assert len(body["results"]) == 3
    assert "next" in body and "previous" in body  # cursor pagination


def test_list_filters_by_status(auth_client, organization):
    PaymentFactory(organization=organization, status="succeeded")
    PaymentFactory(organization=organization, status="failed")
    body = auth_client.get("/api/v1/payments", {"status": "failed"}).json()
    assert [p["status"] for p in body["results"]] == ["failed"]


def test_jwt_obtain_and_use(user, api_client):
    resp = api_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": "correct-horse-9"}, format="json"
    )
    assert resp.status_code == 200
    access = resp.json()["access"]
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    me = api_client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["role"] == "owner"


def test_bad_jwt_is_401_with_error_body(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    resp = api_client.get("/api/v1/payments")
    assert resp.status_code == 401
    assert resp.json()["code"] in {"authentication_failed", "not_authenticated"}


def test_user_without_membership_is_refused(api_client):
    stranger = UserFactory()
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(stranger)}")
    assert api_client.get("/api/v1/payments").status_code == 403


def test_x_organization_header_selects_between_memberships(user, organization):
    second = OrganizationFactory()
    MembershipFactory(organization=second, user=user, role="finance")
    PaymentFactory(organization=second)
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}", HTTP_X_ORGANIZATION=second.slug
    )
    assert len(client.get("/api/v1/payments").json()["results"]) == 1
    assert client.get("/api/v1/me").json()["role"] == "finance"


def test_api_key_authenticates_for_its_organization(key_client, organization):
    PaymentFactory(organization=organization)
    resp = key_client.get("/api/v1/payments")
    assert resp.status_code == 200
    assert len(resp.json()["results"]) == 1


def test_revoked_api_key_is_refused(organization):
    key, raw = api_key_create(organization=organization, name="agent", scopes=["read"])
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    assert client.get("/api/v1/payments").status_code == 200
    api_key_revoke(api_key=key)
    resp = client.get("/api/v1/payments")
    assert resp.status_code == 401
    assert resp.json()["code"] == "authentication_failed"


def test_expired_api_key_is_refused(organization):
    _, raw = api_key_create(
        organization=organization,
        name="old",
        scopes=["read"],
        expiry_date=timezone.now() - timedelta(seconds=1),
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    assert client.get("/api/v1/payments").status_code == 401


def test_rotation_issues_new_key_and_revokes_old(organization):
    key, raw = api_key_create(organization=organization, name="rot", scopes=["read", "intent"])
    new, new_raw = api_key_rotate(api_key=key)
    assert new.scopes == ["read", "intent"] and new.rotated_from_id == key.pk
    old_client, new_client = APIClient(), APIClient()
    old_client.credentials(HTTP_X_API_KEY=raw)
    new_client.credentials(HTTP_X_API_KEY=new_raw)
    assert old_client.get("/api/v1/me").status_code == 401
    assert new_client.get("/api/v1/me").status_code == 200


def test_api_key_endpoints_create_list_revoke(auth_client):
    created = auth_client.post("/api/v1/api-keys", {"name": "zapier", "scopes": ["read"]}, format="json")
    assert created.status_code == 201
    body = created.json()
    assert body["key"].startswith(body["prefix"] + ".")
    listed = auth_client.get("/api/v1/api-keys").json()
    assert [k["name"] for k in listed] == ["zapier"]
    assert "key" not in listed[0]
    revoked = auth_client.post(f"/api/v1/api-keys/{body['id']}/revoke")
    assert revoked.json()["revoked"] is True
    again = auth_client.post(f"/api/v1/api-keys/{body['id']}/revoke")
    assert again.status_code == 409 and again.json()["code"] == "api_key_revoked"


def test_finance_role_cannot_manage_api_keys(organization):
    person = UserFactory()
    MembershipFactory(organization=organization, user=person, role="finance")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(person)}")
    assert client.get("/api/v1/api-keys").status_code == 403
