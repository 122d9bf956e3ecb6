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


@pytest.mark.redis
def test_a_repeat_request_costs_one_redis_round_trip_for_auth_and_rate_limits(person, monkeypatch):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    import redis

    _, _, client = person
    assert client.get("/api/v1/payments").status_code == 200  # the auth context is now cached
    # given a record of every Redis round trip (a single command or a pipeline)
    trips: list[str] = []
    real_execute, real_command = redis.client.Pipeline.execute, redis.Redis.execute_command

    def pipeline_execute(self, *args, **kwargs):
        trips.append("pipeline:" + ",".join(str(c[0][0]) for c in self.command_stack))
        return real_execute(self, *args, **kwargs)

    def command(self, *args, **kwargs):
        trips.append(str(args[0]))
        return real_command(self, *args, **kwargs)

    monkeypatch.setattr(redis.client.Pipeline, "execute", pipeline_execute)
    monkeypatch.setattr(redis.Redis, "execute_command", command)
    # when the list is read again
    assert client.get("/api/v1/payments").status_code == 200
    # then the auth context and both rate limits (IP, user) came in one command: the script that
    # GETs the context and counts each limit (INCR, EXPIRE NX)
    assert trips == ["EVALSHA"]


@pytest.mark.redis
def test_the_counters_expire_with_their_window_and_a_hit_does_not_extend_it(person):
    from django.conf import settings

    if not settings.REDIS_URL:
        pytest.skip("needs Redis")
    import redis

    user, _, client = person
    assert client.get("/api/v1/payments").status_code == 200  # the auth context is cached
    assert client.get("/api/v1/payments").status_code == 200  # counted by the script
    raw = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    [user_key] = list(raw.scan_iter(match=f"{prefix}:throttle:user:{user.pk}:*"))
    # the window is a minute (60 s + 1): the key expires within it, and holds the two hits
    ttl = raw.ttl(user_key)
    assert 0 < ttl <= 61 and int(raw.get(user_key)) == 2
    raw.expire(user_key, 5)  # as if the window were nearly over
    assert client.get("/api/v1/payments").status_code == 200
    assert raw.ttl(user_key) <= 5 and int(raw.get(user_key)) == 3  # EXPIRE NX: not pushed back
    raw.close()


def test_the_rate_limits_still_count_each_request_once(person, settings):
    # given a user limit of 3 a minute (DRF reloads its settings)
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"ip": "1000/min", "user": "3/min", "conversation": "10/min"},
    }
    _, _, client = person
    # when four requests come in
    codes = [client.get("/api/v1/payments").status_code for _ in range(4)]
    # then the fourth is refused, with the retry hint
    assert codes == [200, 200, 200, 429]


def test_a_verified_token_is_refused_once_it_expires(person):
    import time_machine
    from django.utils import timezone

    user, _, _ = person
    token = AccessToken.for_user(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    # given a token whose signature this process has already checked
    assert client.get("/api/v1/me").status_code == 200
    # when its lifetime has passed
    with time_machine.travel(timezone.now() + token.lifetime + timezone.timedelta(seconds=5), tick=False):
        resp = client.get("/api/v1/me")
    # then it is refused as simplejwt refuses it
    assert resp.status_code == 401 and resp.json()["code"] == "authentication_failed"


def test_a_token_signed_with_another_key_is_refused_even_after_a_good_one(person, settings):
    import jwt

    user, _, client = person
    assert client.get("/api/v1/me").status_code == 200
    good = AccessToken.for_user(user)
    forged = jwt.encode(dict(good.payload), "not-the-signing-key-" + "z" * 40, algorithm="HS256")
    forger = APIClient()
    forger.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert forger.get("/api/v1/me").status_code == 401


def test_changing_the_jwt_settings_forgets_verified_tokens(person, settings):
    from apps.core import authcache

    _, _, client = person
    assert client.get("/api/v1/me").status_code == 200
    assert authcache._verified
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "LEEWAY": 0}
    assert authcache._verified == {}


def test_redis_replies_are_parsed_by_hiredis():
    """Every request's auth context and rate limits come back in one Redis reply; redis-py's
    pure-Python parser cost 12-17 % of a list request's CPU (``benchmarks/api_baseline``), so the
    requirements pin hiredis and redis-py must pick it up."""
    from redis.connection import DefaultParser
    from redis.utils import HIREDIS_AVAILABLE

    assert HIREDIS_AVAILABLE
    assert "Hiredis" in DefaultParser.__name__
