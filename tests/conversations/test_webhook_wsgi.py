"""The webhooks' fast path in front of Django's WSGI handler (``apps.conversations.wsgi``, what
a WSGI server runs as ``agentpay.wsgi.application``): requests are sent as a WSGI server sends them,
not through the test client, which has a handler of its own.

The path calls ``close_old_connections()`` as Django's request signals do, so these tests run
outside a test transaction (``transaction=True``) like a real server."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.core.wsgi import get_wsgi_application
from django.test import RequestFactory
from django_prometheus.middleware import Metrics

from apps.conversations.api import views
from apps.conversations.middleware import webhook_responses_total
from apps.conversations.models import WebhookEvent
from apps.conversations.wsgi import WebhookFastPath
from tests.conversations.factories import (
    TG_SECRET,
    WA_APP_SECRET,
    WA_PHONE_NUMBER_ID,
    telegram_account,
    whatsapp_account,
)
from tests.conversations.handoff import handoff_fixture  # noqa: F401 (the "handoff" fixture)
from tests.conversations.test_webhooks_telegram import message_update

pytestmark = pytest.mark.django_db(transaction=True)
TG_URL = "/api/v1/webhooks/telegram"
WA_URL = "/api/v1/webhooks/whatsapp"


class Answer:
    def __init__(self, status: str, headers: list[tuple[str, str]], body: bytes) -> None:
        self.status_code = int(status.split(" ", 1)[0])
        self.headers = dict(headers)
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)


@pytest.fixture
def app() -> Iterator[WebhookFastPath]:
    yield WebhookFastPath(get_wsgi_application())


def call(app: WebhookFastPath, path: str, body: bytes = b"", method: str = "POST", **headers: Any) -> Answer:
    factory = RequestFactory()
    request = factory.generic(method, path, body, content_type="application/json", **headers)
    seen: list[Any] = []
    chunks = app(request.environ, lambda status, hdrs, exc=None: seen.append((status, hdrs)))
    body_out = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    [(status, hdrs)] = seen
    return Answer(status, hdrs, body_out)


def tg(app: WebhookFastPath, update_id: int = 1, secret: str = TG_SECRET, **headers: str) -> Answer:
    body = json.dumps(message_update(update_id, "oi")).encode()
    return call(app, TG_URL, body, HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret, **headers)


def wa_body(wamid: str) -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": WA_PHONE_NUMBER_ID},
        "contacts": [{"profile": {"name": "Ana"}, "wa_id": "5511987654321"}],
        "messages": [
            {
                "from": "5511987654321",
                "id": wamid,
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": "oi"},
            }
        ],
    }
    payload = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(payload).encode()


def wa_signature(body: bytes, secret: str = WA_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def counter(metric: Any) -> float:
    return float(metric._value.get())


def test_a_webhook_is_stored_before_the_200_and_the_connection_goes_back(
    app, organization, platform_settings, handoff, handed_back
):
    telegram_account(organization)
    metrics = Metrics.get_instance()
    before = (counter(metrics.requests_total), counter(metrics.responses_total))
    answered = webhook_responses_total.labels("telegram", "200")._value.get()
    resp = tg(app, 1)
    # the connection was handed back (CONN_MAX_AGE 0 / the pool), as Django's request_finished does
    assert handed_back()
    assert resp.status_code == 200 and resp.json() == {"ok": True, "stored": 1}
    [event] = WebhookEvent.objects.all()
    assert event.event_id.endswith(":1") and event.status == "received"
    assert handoff.pending() == [event.pk]
    # what the stack in front of the ingest middleware adds: security headers, X-Frame-Options
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Content-Length"] == str(len(resp.body)) and "Set-Cookie" not in resp.headers
    assert (counter(metrics.requests_total), counter(metrics.responses_total)) == (
        before[0] + 1,
        before[1] + 1,
    )
    assert webhook_responses_total.labels("telegram", "200")._value.get() == answered + 1


def test_a_duplicate_is_acknowledged_and_stored_once(app, organization, platform_settings, handoff):
    telegram_account(organization)
    assert tg(app, 7).json() == {"ok": True, "stored": 1}
    resp = tg(app, 7)
    assert resp.status_code == 200 and resp.json() == {"ok": True, "stored": 0}
    assert WebhookEvent.objects.count() == 1 and len(handoff.pending()) == 1


def test_a_wrong_telegram_secret_is_403_and_nothing_stored(app, organization, platform_settings, handoff):
    telegram_account(organization)
    resp = tg(app, 1, secret="not-the-secret")
    assert resp.status_code == 403 and resp.json()["code"] == "invalid_secret_token"
    assert WebhookEvent.objects.count() == 0 and handoff.pending() == []


def test_a_bad_whatsapp_signature_is_401_and_nothing_stored(app, organization, platform_settings, handoff):
    whatsapp_account(organization)
    body = wa_body("wamid.FAST1")
    resp = call(app, WA_URL, body, HTTP_X_HUB_SIGNATURE_256=wa_signature(body, "another-secret"))
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == 0 and handoff.pending() == []
    resp = call(app, WA_URL, body, HTTP_X_HUB_SIGNATURE_256=wa_signature(body))
    assert resp.status_code == 200 and resp.json() == {"ok": True, "stored": 1}
    assert WebhookEvent.objects.get().event_id == "wamid.FAST1"


def test_the_whatsapp_handshake_is_answered(app, organization, platform_settings):
    whatsapp_account(organization)
    resp = call(app, WA_URL + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=42", method="GET")
    assert resp.status_code == 403 and resp.json()["code"] == "verification_failed"


def test_an_exception_in_the_view_is_the_json_500_and_reported(
    app, organization, platform_settings, monkeypatch, handed_back
):
    telegram_account(organization)

    def broken(request: Any) -> Any:
        raise RuntimeError("password=hunter2 the database went away")

    monkeypatch.setattr(views, "telegram_webhook", broken)
    reported: list[str] = []

    def receiver(sender: Any, request: Any = None, **_kw: Any) -> None:
        reported.append(request.path)

    got_request_exception.connect(receiver)
    try:
        resp = tg(app, 1)
        assert handed_back()
    finally:
        got_request_exception.disconnect(receiver)
    assert resp.status_code == 500
    assert resp.json() == {"code": "server_error", "message": "An unexpected error occurred.", "errors": {}}
    assert b"hunter2" not in resp.body and b"Traceback" not in resp.body
    assert reported == [TG_URL]


def test_a_host_not_allowed_is_400_and_nothing_stored(
    app, organization, platform_settings, handoff, settings
):
    telegram_account(organization)
    settings.ALLOWED_HOSTS = ["agentpay.example"]
    resp = tg(app, 1, HTTP_HOST="evil.example")
    assert resp.status_code == 400 and b"evil.example" not in resp.body
    assert WebhookEvent.objects.count() == 0 and handoff.pending() == []
    assert tg(app, 1, HTTP_HOST="agentpay.example").status_code == 200


def test_plain_http_is_redirected_when_ssl_is_required(organization, platform_settings, handoff, settings):
    telegram_account(organization)
    settings.SECURE_SSL_REDIRECT = True
    app = WebhookFastPath(get_wsgi_application())  # SecurityMiddleware reads its settings when built
    resp = tg(app, 1)
    assert resp.status_code == 301 and resp.headers["Location"] == f"https://testserver{TG_URL}"
    assert WebhookEvent.objects.count() == 0


def test_every_other_path_goes_to_django(app, organization, platform_settings):
    resp = call(app, "/admin/login/", method="GET")
    assert resp.status_code == 200 and "csrftoken" in resp.headers.get("Set-Cookie", "")
    # a path next to a webhook is not one, and a mounted prefix goes through Django's handler
    assert app.routes().get(TG_URL + "/") is None
    assert call(app, TG_URL + "/", b"{}").status_code in (301, 404)


def test_the_stack_it_stands_for_is_the_one_in_front_of_the_ingest_middleware(settings):
    # apps/conversations/wsgi.py does by hand what these do for a webhook (WhiteNoise only serves
    # /static/, the error middleware's 500 is the one the ingest answer gives): a middleware added
    # in front of the ingest one must be added to the fast path too, or this fails
    stack = settings.MIDDLEWARE
    assert stack[: stack.index("apps.conversations.middleware.WebhookIngestMiddleware")] == [
        "django_prometheus.middleware.PrometheusBeforeMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "apps.core.middleware.ApiErrorMiddleware",
    ]
