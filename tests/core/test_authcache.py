"""The JWT caller's user and memberships come from the cache, and every change drops them."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.models import Membership
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def person():
    user = UserFactory()
    org = OrganizationFactory()
    MembershipFactory(organization=org, user=user, role="finance")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return user, org, client


def test_repeat_requests_do_not_query_user_or_membership(person, django_assert_num_queries):
    _, _, client = person
    assert client.get("/api/v1/me").status_code == 200
    with django_assert_num_queries(0):
        assert client.get("/api/v1/me").json()["role"] == "finance"


def test_role_change_and_removal_apply_on_the_next_request(person):
    user, org, client = person
    assert client.get("/api/v1/me").json()["role"] == "finance"
    membership = Membership.objects.get(user=user, organization=org)
    membership.role = "owner"
    membership.save()
    assert client.get("/api/v1/me").json()["role"] == "owner"
    membership.delete()
    assert client.get("/api/v1/payments").status_code == 403


def test_deactivated_user_and_organisation_are_refused_at_once(person):
    user, org, client = person
    assert client.get("/api/v1/payments").status_code == 200
    org.is_active = False
    org.save()
    assert client.get("/api/v1/payments").status_code == 403
    org.is_active = True
    org.save()
    assert client.get("/api/v1/payments").status_code == 200
    user.is_active = False
    user.save()
    resp = client.get("/api/v1/payments")
    assert resp.status_code == 401 and resp.json()["code"] in ("authentication_failed", "user_inactive")


def test_caching_can_be_turned_off(person, settings, django_assert_max_num_queries):
    settings.AUTH_CACHE_SECONDS = 0
    _, _, client = person
    client.get("/api/v1/me")
    with django_assert_max_num_queries(3) as ctx:
        client.get("/api/v1/me")
    assert len(ctx.captured_queries) >= 2
