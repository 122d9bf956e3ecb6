"""Registering the platforms' webhooks (``manage.py webhooks_register``, the admin action) against
Telegram's Bot API and Meta's Graph API faked at the HTTP boundary, in their documented shapes."""

from __future__ import annotations

import io
import json
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import respx
from django.core.management import CommandError, call_command

from apps.compliance.models import AuditEntry
from apps.conversations.platforms.registration import RegistrationError, webhook_register
from tests.conversations.factories import TG_SECRET, slack_account, telegram_account, whatsapp_account

pytestmark = pytest.mark.django_db

PUBLIC = "https://pay.example.com"


@pytest.fixture
def telegram_api(platform_settings: Any) -> Any:
    """Telegram keeps the webhook it was given and reports it back, as the Bot API does."""
    state: dict[str, Any] = {"calls": []}

    def answer(request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[1]
        body = json.loads(request.content or b"{}")
        state["calls"].append((request.url.path, body))
        if method == "setWebhook":
            if not body["url"].startswith("https://"):
                return httpx.Response(
                    400,
                    json={
                        "ok": False,
                        "error_code": 400,
                        "description": "Bad Request: bad webhook: HTTPS url must be provided for webhook",
                    },
                )
            state["webhook"] = body
            return httpx.Response(200, json={"ok": True, "result": True, "description": "Webhook was set"})
        if method == "getWebhookInfo":
            hook = state.get("webhook", {})
            return httpx.Response(200, json={"ok": True, "result": {
                "url": hook.get("url", ""), "has_custom_certificate": False, "pending_update_count": 3,
                "max_connections": 40, "allowed_updates": hook.get("allowed_updates", []),
            }})  # fmt: skip
        return httpx.Response(404, json={"ok": False, "error_code": 404, "description": "Not Found"})

    with respx.mock(assert_all_called=False) as router:
        router.route(host="api.telegram.test").mock(side_effect=answer)
        yield state


@pytest.fixture
def graph_api(platform_settings: Any) -> Any:
    state: dict[str, Any] = {"calls": [], "fail": None}

    def answer(request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        state["calls"].append((request.url.path, form, request.headers.get("authorization")))
        if state["fail"]:
            return httpx.Response(400, json={"error": {
                "message": state["fail"], "type": "OAuthException", "code": 2200, "fbtrace_id": "A1b2",
            }})  # fmt: skip
        return httpx.Response(200, json={"success": True})

    with respx.mock(assert_all_called=False) as router:
        router.route(host="graph.whatsapp.test").mock(side_effect=answer)
        yield state


def test_telegram_gets_our_url_with_the_secret_token_and_the_updates_we_handle(organization, telegram_api):
    account = telegram_account(organization)
    result = webhook_register(account=account, public_url=PUBLIC)
    path, body = telegram_api["calls"][0]
    assert path == "/bot7000000001:AAH-test/setWebhook"
    assert body == {
        "url": "https://pay.example.com/api/v1/webhooks/telegram",
        "secret_token": TG_SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
    }
    assert (
        result.registered
        and result.detail["url"] == body["url"]
        and result.detail["pending_update_count"] == 3
    )
    entry = AuditEntry.objects.get(action="conversations.webhook_registered")
    assert entry.target_id == str(account.pk) and entry.after["url"] == body["url"]


def test_telegram_needs_a_valid_secret_and_an_https_url(organization, telegram_api, settings):
    account = telegram_account(organization, webhook_secret="has spaces!")
    with pytest.raises(RegistrationError, match="webhook_secret"):
        webhook_register(account=account, public_url=PUBLIC)
    settings.AGENTPAY_PUBLIC_URL = "http://127.0.0.1:8000"
    with pytest.raises(RegistrationError, match="not HTTPS"):
        webhook_register(account=account)
    assert (
        telegram_api["calls"] == []
        and not AuditEntry.objects.filter(action="conversations.webhook_registered").exists()
    )


def test_whatsapp_subscribes_the_app_and_the_business_account(organization, graph_api):
    account = whatsapp_account(organization)
    result = webhook_register(
        account=account, public_url=PUBLIC, app_id="1234567890", waba_id="102290129340398"
    )
    (sub_path, sub, _), (waba_path, waba, auth) = graph_api["calls"]
    assert sub_path == "/v21.0/1234567890/subscriptions"
    assert sub == {
        "object": "whatsapp_business_account",
        "callback_url": "https://pay.example.com/api/v1/webhooks/whatsapp",
        "verify_token": "verify-me",
        "fields": "messages",
        "access_token": "1234567890|wa-app-secret-0123456789abcdef",
    }
    assert waba_path == "/v21.0/102290129340398/subscribed_apps" and auth == "Bearer EAAG-test" and waba == {}
    assert result.registered and result.detail["subscription"] == {"success": True}


def test_whatsapp_says_what_meta_refused(organization, graph_api):
    account = whatsapp_account(organization, app_id="1234567890")
    graph_api["fail"] = (
        "(#2200) callback verification failed with the following errors: HTTP Status Code = 404"
    )
    with pytest.raises(RegistrationError, match="callback verification failed") as err:
        webhook_register(account=account, public_url=PUBLIC)
    assert err.value.extra == {"status": 400}
    assert not AuditEntry.objects.filter(action="conversations.webhook_registered").exists()


def test_slack_is_told_where_to_paste_the_url(organization):
    result = webhook_register(account=slack_account(organization), public_url=PUBLIC)
    assert not result.registered and "https://pay.example.com/api/v1/webhooks/slack" in result.instructions
    assert not AuditEntry.objects.filter(action="conversations.webhook_registered").exists()


# apps.manifest.export's answer for an app set up by hand earlier (the documented manifest shape)
SLACK_MANIFEST = {
    "display_information": {"name": "AgentPay"},
    "features": {
        "bot_user": {"display_name": "AgentPay", "always_online": True},
        "slash_commands": [
            {"command": "/pay", "url": "https://old.example.com/slack", "description": "Pay someone"}
        ],
    },
    "oauth_config": {"scopes": {"bot": ["chat:write", "commands", "app_mentions:read", "im:history"]}},
    "settings": {
        "event_subscriptions": {
            "request_url": "https://old.example.com/slack",
            "bot_events": ["app_mention", "message.im"],
        },
        "interactivity": {"is_enabled": False},
        "org_deploy_enabled": False,
        "socket_mode_enabled": False,
    },
}


def test_slack_request_urls_are_set_through_the_app_manifest(organization, platform_settings, slack_fake):
    slack_fake.answers["apps.manifest.export"] = {"ok": True, "manifest": SLACK_MANIFEST}
    slack_fake.answers["apps.manifest.update"] = {
        "ok": True,
        "app_id": "A0123456789",
        "permissions_updated": False,
    }
    result = webhook_register(
        account=slack_account(organization),
        public_url=PUBLIC,
        app_id="A0123456789",
        config_token="xoxe.xoxp-1-t",
    )
    url = "https://pay.example.com/api/v1/webhooks/slack"
    assert result.registered and result.url == url
    (export, asked), (update, sent) = slack_fake.calls
    assert (export, update) == ("apps.manifest.export", "apps.manifest.update")
    assert asked["app_id"] == sent["app_id"] == "A0123456789"
    assert asked["_auth"] == sent["_auth"] == "Bearer xoxe.xoxp-1-t"
    manifest = json.loads(sent["manifest"])
    assert manifest["settings"]["event_subscriptions"] == {
        "request_url": url,
        "bot_events": ["app_mention", "message.im"],  # subscriptions and scopes are left as they were
    }
    assert manifest["settings"]["interactivity"] == {"is_enabled": True, "request_url": url}
    assert [c["url"] for c in manifest["features"]["slash_commands"]] == [url]
    assert manifest["oauth_config"] == SLACK_MANIFEST["oauth_config"]
    assert result.detail["bot_events_missing"] == ["message.channels"]
    assert "message.channels" in result.instructions
    assert AuditEntry.objects.filter(action="conversations.webhook_registered").count() == 1


def test_a_manifest_slack_refuses_is_a_clear_error(organization, platform_settings, slack_fake):
    slack_fake.answers["apps.manifest.export"] = {"ok": True, "manifest": SLACK_MANIFEST}
    slack_fake.answers["apps.manifest.update"] = {
        "ok": False,
        "error": "invalid_manifest",
        "errors": [
            {"message": "Request URL didn't respond", "pointer": "/settings/event_subscriptions/request_url"}
        ],
    }
    with pytest.raises(RegistrationError, match="invalid_manifest") as err:
        webhook_register(
            account=slack_account(organization), public_url=PUBLIC, app_id="A1", config_token="x"
        )
    assert err.value.extra["errors"][0]["pointer"] == "/settings/event_subscriptions/request_url"
    assert not AuditEntry.objects.filter(action="conversations.webhook_registered").exists()


def test_the_command_registers_every_active_account_and_fails_clearly(organization, telegram_api, graph_api):
    telegram_account(organization)
    whatsapp_account(organization)  # no app id: refused with the reason
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 account"):
        call_command("webhooks_register", "--url", PUBLIC, stdout=out, stderr=err)
    assert "telegram 7000000001" in out.getvalue() and "registered https://pay.example.com" in out.getvalue()
    assert "Meta app id" in err.getvalue()
    out = io.StringIO()
    call_command("webhooks_register", "--url", PUBLIC, "--app-id", "99", "--platform", "whatsapp", stdout=out)
    assert "registered https://pay.example.com/api/v1/webhooks/whatsapp" in out.getvalue()
    with pytest.raises(CommandError, match="No active platform account nope"):
        call_command("webhooks_register", "nope", "--url", PUBLIC)


def test_the_admin_action_registers_the_selected_accounts(organization, telegram_api, settings, staff):
    settings.AGENTPAY_PUBLIC_URL = PUBLIC
    account = telegram_account(organization)
    response = staff.post(
        "/admin/conversations/platformaccount/",
        {"action": "register_webhooks", "_selected_action": [str(account.pk)]},
        follow=True,
    )
    assert response.status_code == 200
    assert "registered https://pay.example.com/api/v1/webhooks/telegram" in response.content.decode()
    assert telegram_api["webhook"]["secret_token"] == TG_SECRET
