"""The webhooks' short way through the middleware stack: what it skips (sessions, auth, the
people-facing middleware) and what it keeps (ALLOWED_HOSTS, the request id in the log, the JSON
error body, X-Frame-Options, a metric), and that every other path still takes the whole stack."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.signals import got_request_exception
from django.test import Client

from apps.conversations.api import views
from apps.conversations.middleware import WebhookIngestMiddleware, webhook_responses_total
from apps.conversations.models import WebhookEvent
from tests.conversations.factories import TG_SECRET, telegram_account
from tests.conversations.handoff import handoff_fixture  # noqa: F401 (the "handoff" fixture)
from tests.conversations.test_webhooks_telegram import message_update

pytestmark = pytest.mark.django_db
URL = "/api/v1/webhooks/telegram"


def post(client: Client | None = None, update_id: int = 1, **extra: Any) -> Any:
    return (client or Client()).post(
        URL,
        data=json.dumps(message_update(update_id, "oi")),
        content_type="application/json",
        **{"HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN": TG_SECRET, **extra},
    )


def answers(status: str) -> float:
    return webhook_responses_total.labels("telegram", status)._value.get()


def test_it_sits_before_the_people_facing_middleware(settings):
    stack = settings.MIDDLEWARE
    mine = stack.index("apps.conversations.middleware.WebhookIngestMiddleware")
    assert stack.index("django.middleware.security.SecurityMiddleware") < mine
    assert stack.index("django_prometheus.middleware.PrometheusBeforeMiddleware") < mine
    for skipped in (
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django_otp.middleware.OTPMiddleware",
        "apps.core.middleware.RequestLogMiddleware",
    ):
        assert stack.index(skipped) > mine


def test_a_webhook_is_answered_without_session_or_user(organization, platform_settings, handoff, monkeypatch):
    telegram_account(organization)
    seen: list[Any] = []
    view = views.telegram_webhook

    def spy(request: Any) -> Any:
        seen.append(request)
        return view(request)

    monkeypatch.setattr(views, "telegram_webhook", spy)
    before = answers("200")
    resp = post()
    assert resp.status_code == 200 and resp.json() == {"ok": True, "stored": 1}
    [request] = seen
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert "Set-Cookie" not in resp.headers and resp.headers["X-Frame-Options"] == "DENY"
    assert answers("200") == before + 1
    assert WebhookEvent.objects.count() == 1


def test_the_request_id_from_a_trusted_proxy_is_logged(
    organization, platform_settings, handoff, caplog, settings
):
    settings.DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
    telegram_account(organization)
    caplog.set_level("INFO", logger="django_structlog")
    assert post(HTTP_X_REQUEST_ID="req-4242").status_code == 200
    assert post(HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN="wrong").status_code == 403
    finished = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "request_finished"
    ]
    assert [(m["code"], m["request"]) for m in finished] == [(200, f"POST {URL}"), (403, f"POST {URL}")]
    assert finished[0]["request_id"] == "req-4242" and finished[0]["ip"] == "127.0.0.1"
    assert finished[1]["request_id"] not in ("", "req-4242")  # a fresh one for a request without it
    assert [r.levelname for r in caplog.records if r.msg in finished] == ["INFO", "WARNING"]


def test_a_clients_request_id_is_not_logged_by_default(organization, platform_settings, handoff, caplog):
    """As for every other request (RequestLogMiddleware): a sender's X-Request-ID names nothing
    unless the deployment trusts its proxy to set it."""
    telegram_account(organization)
    caplog.set_level("INFO", logger="django_structlog")
    assert post(HTTP_X_REQUEST_ID="spoofed-1").status_code == 200
    [finished] = [
        r.msg for r in caplog.records if isinstance(r.msg, dict) and r.msg["event"] == "request_finished"
    ]
    assert finished["request_id"] not in ("", "spoofed-1")


def test_an_exception_in_the_view_is_a_json_500_and_reported(organization, platform_settings, monkeypatch):
    telegram_account(organization)

    def broken(request: Any) -> Any:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(views, "telegram_webhook", broken)
    reported: list[Any] = []

    def receiver(sender: Any, request: Any = None, **_kw: Any) -> None:
        reported.append(request.path)

    got_request_exception.connect(receiver)
    try:
        resp = Client(raise_request_exception=False).post(
            URL, data="{}", content_type="application/json", HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TG_SECRET
        )
    finally:
        got_request_exception.disconnect(receiver)
    assert resp.status_code == 500
    assert resp.json() == {"code": "server_error", "message": "An unexpected error occurred.", "errors": {}}
    assert "the database went away" not in resp.content.decode()
    assert URL in reported


def test_a_host_not_allowed_is_refused_and_nothing_stored(organization, platform_settings, handoff, settings):
    telegram_account(organization)
    settings.ALLOWED_HOSTS = ["agentpay.example"]
    resp = post(HTTP_HOST="evil.example")
    assert resp.status_code == 400
    assert WebhookEvent.objects.count() == 0 and handoff.pending() == []
    assert post(HTTP_HOST="agentpay.example").status_code == 200


def test_other_paths_take_the_whole_stack(organization, platform_settings):
    # the admin login page needs the session and CSRF middleware the webhooks skip
    resp = Client().get("/admin/login/")
    assert resp.status_code == 200 and "csrftoken" in resp.cookies
    # a path next to the webhooks is not one of them
    assert Client().post(
        "/api/v1/webhooks/telegram/", data="{}", content_type="application/json"
    ).status_code in (
        301,
        404,
    )


def test_a_urlconf_without_the_webhooks_leaves_every_path_alone(rf):
    middleware = WebhookIngestMiddleware(lambda request: "passed on")  # type: ignore[arg-type,return-value]
    middleware._routes = {}  # as when the URLconf does not mount the webhook views
    assert middleware(rf.post(URL)) == "passed on"
