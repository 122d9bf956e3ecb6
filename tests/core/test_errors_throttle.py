from __future__ import annotations

import time

import pytest
import time_machine
from django.test import override_settings
from django.urls import path
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.throttling import PerConversationThrottle

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clock_stands_still():
    """Rate limits count in fixed windows: a slow run must not straddle two of them."""
    with time_machine.travel(time.time(), tick=False):
        yield


class Boom(APIView):
    def get(self, request):
        raise RuntimeError("secret internals: password=hunter2")


class ConversationPing(APIView):
    throttle_classes = [PerConversationThrottle]
    conversation_lookup = "conversation_id"

    def get(self, request, conversation_id):
        return Response({"ok": True})


urlpatterns = [
    path("api/v1/boom", Boom.as_view()),
    path("api/v1/conv/<str:conversation_id>/ping", ConversationPing.as_view()),
]


def test_validation_error_body(auth_client):
    resp = auth_client.post("/api/v1/api-keys", {"name": "", "scopes": ["nope"]}, format="json")
    assert resp.status_code == 400
    body = resp.json()
    assert body["code"] == "validation_error"
    assert body["message"]
    assert set(body["errors"]) == {"name", "scopes"}


def test_unknown_api_route_is_json_404(auth_client):
    resp = auth_client.get("/api/v1/does-not-exist")
    assert resp.status_code == 404
    assert resp["Content-Type"].startswith("application/json")
    assert resp.json()["code"] == "not_found"


def test_unauthenticated_is_401_json(api_client):
    resp = api_client.get("/api/v1/payments")
    assert resp.status_code == 401
    assert resp.json() == {"code": "not_authenticated", "message": resp.json()["message"], "errors": {}}


@override_settings(ROOT_URLCONF=__name__, DEBUG=False)
def test_500_is_json_without_internals(auth_client):
    auth_client.raise_request_exception = False
    resp = auth_client.get("/api/v1/boom")
    assert resp.status_code == 500
    assert resp.json() == {"code": "server_error", "message": "An unexpected error occurred.", "errors": {}}
    assert b"hunter2" not in resp.content and b"<html" not in resp.content.lower()


@pytest.mark.redis
def test_per_user_throttle_on_the_shared_cache_gives_429_with_retry_after(auth_client, settings):
    # CI runs this on Redis: the counter lives in the shared cache
    assert "redis" in settings.CACHES["default"]["BACKEND"].lower()
    statuses = [auth_client.get("/api/v1/me").status_code for _ in range(101)]
    assert statuses[:100] == [200] * 100
    assert statuses[100] == 429
    resp = auth_client.get("/api/v1/me")
    assert resp.json()["code"] == "throttled"
    assert 1 <= int(resp["Retry-After"]) <= 60


def test_per_user_throttle_locmem(auth_client):
    codes = [auth_client.get("/api/v1/me").status_code for _ in range(101)]
    assert codes.count(429) == 1 and codes[-1] == 429


@override_settings(ROOT_URLCONF=__name__)
def test_per_conversation_throttle_is_per_conversation(auth_client):
    a = [auth_client.get("/api/v1/conv/a/ping").status_code for _ in range(11)]
    b = auth_client.get("/api/v1/conv/b/ping").status_code
    assert a[:10] == [200] * 10 and a[10] == 429
    assert b == 200


def test_per_ip_throttle(api_client, settings):
    from apps.core.throttling import PerIPThrottle

    throttle = PerIPThrottle()
    throttle.num_requests = 3
    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().get("/", REMOTE_ADDR="10.1.2.3")
    from rest_framework.request import Request

    drf_request = Request(request)
    results = [throttle.allow_request(drf_request, None) for _ in range(4)]
    assert results == [True, True, True, False]
    assert throttle.wait() >= 1


def test_per_conversation_throttle_guards_the_real_endpoints(auth_client, organization):
    # given two conversations of the caller's organisation
    from apps.conversations.models import Conversation

    busy, quiet = (
        Conversation.objects.create(organization=organization, platform="webchat", external_conversation_id=x)
        for x in ("busy", "quiet")
    )
    # when one conversation's messages are analysed 11 times within a minute
    codes = [
        auth_client.post(
            "/api/v1/intent/analyze",
            {"text": f"pix {i} reais", "conversation_id": str(busy.pk)},
            format="json",
        ).status_code
        for i in range(11)
    ]
    # then the 11th is refused with Retry-After, by URL kwarg as well as by body field
    assert codes[:10] == [200] * 10 and codes[10] == 429
    listing = auth_client.get(f"/api/v1/conversations/{busy.pk}/intents")
    assert listing.status_code == 429 and int(listing["Retry-After"]) >= 1
    assert listing.json()["code"] == "throttled"
    # and another conversation is not affected
    assert auth_client.get(f"/api/v1/conversations/{quiet.pk}/intents").status_code == 200


def test_unknown_host_is_a_json_400_that_says_so(api_client):
    # given a Host header that is not in ALLOWED_HOSTS
    resp = api_client.get("/api/v1/payments", HTTP_HOST="attacker.example")
    # then the error names the reason, in the one error body
    assert resp.status_code == 400
    assert resp.json()["code"] == "disallowed_host"
