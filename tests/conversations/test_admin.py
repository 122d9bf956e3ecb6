"""The conversations console: accounts with write-only secrets, chats with their messages,
the outbox with its retry action and raw webhook events."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from django.test import Client

from apps.conversations.models import (
    Conversation,
    ConversationMessage,
    OutboundMessage,
    PlatformAccount,
    WebhookEvent,
)
from tests.conversations.test_webhooks_telegram import CHAT, message_update

pytestmark = pytest.mark.django_db

TG_BOT_TOKEN = "7000000001:AAH-admin"
TG_HOOK_SECRET = "admin-typed-secret_123"


@pytest.fixture
def bot_api() -> Any:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="api.telegram.test").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": {"message_id": 4242, "chat": CHAT}})
        )
        yield router


def _account_via_admin(staff: Client, organization: Any) -> PlatformAccount:
    resp = staff.post(
        "/admin/conversations/platformaccount/add/",
        {
            "organization": organization.pk,
            "platform": "telegram",
            "external_id": "7000000001",
            "name": "Support bot",
            "language": "pt",
            "is_active": "on",
            "secret_1": TG_BOT_TOKEN,
            "secret_2": TG_HOOK_SECRET,
        },
    )
    assert resp.status_code == 302, resp.content[:2000]
    return PlatformAccount.objects.get(external_id="7000000001")


def test_platform_account_secrets_are_encrypted_and_never_shown(staff, organization, platform_settings):
    # when staff connect a Telegram bot in the admin
    account = _account_via_admin(staff, organization)
    # then the secrets are stored encrypted and work for the webhook
    assert account.secrets_get() == {"bot_token": TG_BOT_TOKEN, "webhook_secret": TG_HOOK_SECRET}
    assert TG_BOT_TOKEN not in account.secrets_encrypted
    page = staff.get(f"/admin/conversations/platformaccount/{account.pk}/change/").content.decode()
    assert TG_BOT_TOKEN not in page and TG_HOOK_SECRET not in page
    # and an edit with empty secret fields keeps them, a typed one replaces only itself
    resp = staff.post(
        f"/admin/conversations/platformaccount/{account.pk}/change/",
        {
            "organization": organization.pk,
            "platform": "telegram",
            "external_id": "7000000001",
            "name": "Renamed bot",
            "language": "pt",
            "is_active": "on",
            "secret_2": "rotated-secret",
        },
    )
    assert resp.status_code == 302
    account.refresh_from_db()
    assert account.name == "Renamed bot"
    assert account.secrets_get() == {"bot_token": TG_BOT_TOKEN, "webhook_secret": "rotated-secret"}


def test_conversation_messages_outbox_and_events_are_browsable(
    staff, organization, platform_settings, bot_api, django_capture_on_commit_callbacks
):
    # given a bot connected in the admin and a message from Telegram
    _account_via_admin(staff, organization)
    with django_capture_on_commit_callbacks(execute=True):
        resp = Client().post(
            "/api/v1/webhooks/telegram",
            data=json.dumps(message_update(20001, "te mando 50 reais amanhã")),
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=TG_HOOK_SECRET,
        )
    assert resp.status_code == 200
    conversation = Conversation.objects.get()
    message = ConversationMessage.objects.get(direction="inbound")
    # then every record is in the console, the intent shown beside the message
    listing = staff.get("/admin/conversations/conversationmessage/").content.decode()
    assert "te mando 50 reais" in listing and message.detected_intent in listing
    detail = staff.get(f"/admin/conversations/conversation/{conversation.pk}/change/")
    assert detail.status_code == 200 and "te mando 50 reais" in detail.content.decode()
    for model in ("webhookevent", "flowrun", "outboundmessage", "conversation"):
        assert staff.get(f"/admin/conversations/{model}/").status_code == 200
    assert WebhookEvent.objects.get().status == "processed"


def test_retry_action_sends_a_failed_reply_again(staff, organization, platform_settings, bot_api):
    # given a reply whose delivery failed
    _account_via_admin(staff, organization)
    conversation = Conversation.objects.create(
        organization=organization, platform="telegram", external_conversation_id=str(CHAT["id"])
    )
    outbound = OutboundMessage.objects.create(
        conversation=conversation,
        channel="telegram",
        recipient=str(CHAT["id"]),
        reply={"text": "Pagamento recebido ✓"},
        text="Pagamento recebido ✓",
        status="failed",
        error="HTTP 502 from Telegram",
    )
    # when staff retry it from the outbox
    resp = staff.post(
        "/admin/conversations/outboundmessage/",
        {"action": "retry_delivery", "_selected_action": [str(outbound.pk)]},
    )
    assert resp.status_code == 302
    # then it went through the Bot API and is marked sent with the provider's id
    outbound.refresh_from_db()
    assert outbound.status == "sent" and outbound.provider_message_id == "4242" and outbound.error == ""
    [call] = [c.request for c in bot_api.calls if c.request.url.path.endswith("/sendMessage")]
    assert json.loads(call.content)["text"].startswith("Pagamento recebido")


def test_records_cannot_be_edited_or_deleted(staff, organization):
    conversation = Conversation.objects.create(
        organization=organization, platform="webchat", external_conversation_id="s1"
    )
    assert staff.get("/admin/conversations/conversation/add/").status_code == 403
    resp = staff.post(f"/admin/conversations/conversation/{conversation.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 403
    assert Conversation.objects.filter(pk=conversation.pk).exists()
