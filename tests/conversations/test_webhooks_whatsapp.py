"""WhatsApp Cloud API webhooks: verification, signatures, every message type, statuses, dedupe,
and a conversation from first message to completed payment."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import pytest
import respx
from django.test import Client

from apps.conversations.models import (
    Conversation,
    ConversationMessage,
    FlowRun,
    OutboundMessage,
    WebhookEvent,
)
from tests.conversations.conftest import Intent, Party, money
from tests.conversations.factories import WA_APP_SECRET, WA_PHONE_NUMBER_ID, whatsapp_account

URL = "/api/v1/webhooks/whatsapp"
GRAPH = "https://graph.whatsapp.test/v21.0"
WA_ID = "16505551234"


def envelope(*, messages: list[dict] | None = None, statuses: list[dict] | None = None) -> dict[str, Any]:
    """Meta's webhook envelope (``whatsapp_business_account`` / ``messages`` field)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": WA_PHONE_NUMBER_ID},
    }
    if messages is not None:
        value["contacts"] = [{"profile": {"name": "Sheena Nelson"}, "wa_id": WA_ID}]
        value["messages"] = messages
    if statuses is not None:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}],
    }


def text_message(
    body: str, wamid: str = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
) -> dict:
    return {"from": WA_ID, "id": wamid, "timestamp": "1749416383", "type": "text", "text": {"body": body}}


def post(client: Client, payload: dict, *, secret: str = WA_APP_SECRET, signature: str | None = None) -> Any:
    body = json.dumps(payload).encode()
    sig = signature or "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return client.post(URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sig)


@pytest.fixture
def account(organization, platform_settings):
    return whatsapp_account(organization)


@pytest.fixture
def graph() -> Any:
    """The WhatsApp Cloud API, faked with respx: message sends get increasing wamids."""
    with respx.mock(assert_all_called=False) as router:
        sent = router.post(f"{GRAPH}/{WA_PHONE_NUMBER_ID}/messages")
        sent.mock(
            side_effect=lambda request: httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": WA_ID, "wa_id": WA_ID}],
                    "messages": [{"id": f"wamid.OUT{len(sent.calls)}"}],
                },
            )
        )
        router.post(f"{GRAPH}/{WA_PHONE_NUMBER_ID}/media").mock(
            return_value=httpx.Response(200, json={"id": "4490709327384033"})
        )
        yield router


def test_get_verification_echoes_the_challenge(account):
    # given an account whose verify token is "verify-me"
    client = Client()
    # when Meta verifies the webhook
    ok = client.get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "1158201444"}
    )
    bad = client.get(
        URL, {"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1158201444"}
    )
    # then the challenge is echoed only for the right token
    assert ok.status_code == 200 and ok.content == b"1158201444"
    assert bad.status_code == 403 and bad.json()["code"] == "verification_failed"


def test_bad_signature_is_refused_and_nothing_stored(account):
    resp = post(Client(), envelope(messages=[text_message("hi")]), secret="wrong-secret")
    assert resp.status_code == 401
    assert resp.json()["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == 0


def test_missing_signature_and_bad_json(account):
    client = Client()
    body = json.dumps(envelope(messages=[text_message("hi")]))
    assert client.post(URL, data=body, content_type="application/json").status_code == 401
    assert client.post(URL, data=b"{not json", content_type="application/json").status_code == 400
    assert WebhookEvent.objects.count() == 0


def test_text_message_is_stored_acknowledged_and_processed(
    account, graph, intent_double, django_capture_on_commit_callbacks
):
    # given
    client = Client()
    # when
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(client, envelope(messages=[text_message("Does it come in another color?")]))
    # then: acknowledged, stored raw, turned into a conversation message analysed by the intent engine
    assert resp.status_code == 200 and resp.json()["stored"] == 1
    event = WebhookEvent.objects.get()
    assert event.status == "processed" and event.organization_id == account.organization_id
    assert event.payload["message"]["text"]["body"] == "Does it come in another color?"
    conversation = Conversation.objects.get(platform="whatsapp", external_conversation_id=WA_ID)
    assert conversation.participants == [{"id": WA_ID, "name": "Sheena Nelson"}]
    message = conversation.messages.get(direction="inbound")
    assert message.message_text == "Does it come in another color?"
    assert message.detected_intent == "none"
    assert intent_double.calls[0]["text"] == "Does it come in another color?"


def test_retried_delivery_is_acknowledged_and_ignored(
    account, graph, intent_double, django_capture_on_commit_callbacks
):
    client = Client()
    payload = envelope(messages=[text_message("hello")])
    with django_capture_on_commit_callbacks(execute=True):
        first = post(client, payload)
        second = post(client, payload)
    assert first.json()["stored"] == 1 and second.status_code == 200 and second.json()["stored"] == 0
    assert WebhookEvent.objects.count() == 1
    assert ConversationMessage.objects.filter(direction="inbound").count() == 1


@pytest.mark.parametrize(
    ("message", "kind", "text", "token"),
    [
        (
            {
                "context": {"from": "15550783881", "id": "wamid.ctx"},
                "from": WA_ID,
                "id": "wamid.b1",
                "timestamp": "1",
                "type": "interactive",
                "interactive": {
                    "type": "button_reply",
                    "button_reply": {"id": "confirm:abc:", "title": "Confirm"},
                },
            },
            "button",
            "Confirm",
            "confirm:abc:",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.l1",
                "timestamp": "1",
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "choose:abc:pix", "title": "PIX", "description": "fee 0"},
                },
            },
            "list",
            "PIX",
            "choose:abc:pix",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.t1",
                "timestamp": "1",
                "type": "button",
                "button": {"text": "Yes", "payload": "recurring_yes:abc:"},
            },
            "button",
            "Yes",
            "recurring_yes:abc:",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.i1",
                "timestamp": "1",
                "type": "image",
                "image": {
                    "caption": "receipt for R$ 50",
                    "mime_type": "image/jpeg",
                    "sha256": "abc",
                    "id": "1234",
                },
            },
            "image",
            "receipt for R$ 50",
            "",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.d1",
                "timestamp": "1",
                "type": "document",
                "document": {
                    "caption": "invoice",
                    "filename": "inv.pdf",
                    "mime_type": "application/pdf",
                    "id": "9",
                },
            },
            "document",
            "invoice",
            "",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.g1",
                "timestamp": "1",
                "type": "location",
                "location": {
                    "latitude": -23.56,
                    "longitude": -46.65,
                    "name": "Padaria",
                    "address": "Av. Paulista",
                },
            },
            "location",
            "",
            "",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.c1",
                "timestamp": "1",
                "type": "contacts",
                "contacts": [
                    {
                        "name": {"formatted_name": "João Silva", "first_name": "João"},
                        "phones": [{"phone": "+55 11 98765-4321", "wa_id": "5511987654321", "type": "CELL"}],
                    }
                ],
            },
            "contacts",
            "",
            "",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.r1",
                "timestamp": "1",
                "type": "reaction",
                "reaction": {"message_id": "wamid.out", "emoji": "👍"},
            },
            "reaction",
            "",
            "",
        ),
        (
            {
                "from": WA_ID,
                "id": "wamid.u1",
                "timestamp": "1",
                "type": "unsupported",
                "errors": [
                    {
                        "code": 131051,
                        "title": "Message type unknown",
                        "error_data": {"details": "Message type is currently not supported."},
                    }
                ],
            },
            "unknown",
            "",
            "",
        ),
    ],
)
def test_every_message_type_is_parsed(message, kind, text, token):
    from apps.conversations.platforms.whatsapp.webhooks import events_split, item_parse

    [(event_id, event_type, pid, item)] = list(events_split(envelope(messages=[message])))
    parsed = item_parse(item)
    assert (
        event_id == message["id"] and pid == WA_PHONE_NUMBER_ID and event_type == f"message.{message['type']}"
    )
    assert (parsed.kind, parsed.text, parsed.action_token) == (kind, text, token)
    assert parsed.sender_id == WA_ID and parsed.sender_name == "Sheena Nelson"


def test_unknown_types_are_stored_and_skipped(account, intent_double, django_capture_on_commit_callbacks):
    unsupported = {
        "from": WA_ID,
        "id": "wamid.u2",
        "timestamp": "1",
        "type": "unsupported",
        "errors": [{"code": 131051}],
    }
    reaction = {
        "from": WA_ID,
        "id": "wamid.r2",
        "timestamp": "1",
        "type": "reaction",
        "reaction": {"message_id": "wamid.x", "emoji": "❤️"},
    }
    with django_capture_on_commit_callbacks(execute=True):
        resp = post(Client(), envelope(messages=[unsupported, reaction]))
    assert resp.status_code == 200 and resp.json()["stored"] == 2
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"skipped"}
    assert not ConversationMessage.objects.exists()
    assert intent_double.calls == []


def test_statuses_update_the_outbound_message(account, organization, django_capture_on_commit_callbacks):
    # given a reply we sent with wamid.OUT1
    conversation = Conversation.objects.create(
        organization=organization, platform="whatsapp", external_conversation_id=WA_ID
    )
    outbound = OutboundMessage.objects.create(
        conversation=conversation,
        channel="whatsapp",
        recipient=WA_ID,
        status="sent",
        provider_message_id="wamid.OUT1",
    )

    def status(state: str) -> dict:
        return {"id": "wamid.OUT1", "status": state, "timestamp": "1749416400", "recipient_id": WA_ID}

    # when delivered, then read, then a late "delivered" arrives
    with django_capture_on_commit_callbacks(execute=True):
        post(Client(), envelope(statuses=[status("delivered")]))
        post(Client(), envelope(statuses=[status("read")]))
    outbound.refresh_from_db()
    # then the status moved forward only
    assert outbound.status == "read" and outbound.delivered_at is not None
    failed = {
        "id": "wamid.OUT1",
        "status": "failed",
        "timestamp": "1",
        "recipient_id": WA_ID,
        "errors": [{"code": 131047, "title": "Re-engagement message"}],
    }
    with django_capture_on_commit_callbacks(execute=True):
        post(Client(), envelope(statuses=[failed]))
    outbound.refresh_from_db()
    assert outbound.status == "failed" and "131047" in outbound.error


def test_conversation_from_first_message_to_completed_payment(
    account, graph, intent_double, payments_double, django_capture_on_commit_callbacks
):
    # given the intent engine understands the request and WhatsApp's API accepts our messages
    intent_double.understand(
        "pay João R$ 50 via PIX",
        Intent(
            "send_payment",
            language="en",
            amounts=[money("50", "BRL")],
            parties=[Party("name", "João"), Party("pix_key", "+5511987654321", valid=True, subkind="phone")],
            rail_hint="pix",
        ),
    )
    sent = graph.routes[0]
    media = graph.routes[1]
    client = Client()

    # when the user asks to pay
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[text_message("pay João R$ 50 via PIX", "wamid.IN1")]))

    # then a confirmation with two reply buttons is sent, nothing is paid yet
    card = json.loads(sent.calls[0].request.content)
    assert sent.calls[0].request.headers["Authorization"] == "Bearer EAAG-test"
    assert card["type"] == "interactive" and card["to"] == WA_ID
    assert "R$ 50.00" in card["interactive"]["body"]["text"] and "João" in card["interactive"]["body"]["text"]
    buttons = card["interactive"]["action"]["buttons"]
    assert [b["reply"]["title"] for b in buttons] == ["Confirm", "Cancel"]
    assert payments_double.orchestrated == []

    # when the user taps Confirm
    confirm = {
        "context": {"from": "15550783881", "id": "wamid.OUT1"},
        "from": WA_ID,
        "id": "wamid.IN2",
        "timestamp": "1749416390",
        "type": "interactive",
        "interactive": {
            "type": "button_reply",
            "button_reply": {"id": buttons[0]["reply"]["id"], "title": "Confirm"},
        },
    }
    with django_capture_on_commit_callbacks(execute=True):
        post(client, envelope(messages=[confirm]))

    # then exactly one payment is orchestrated with the confirmed terms
    [call] = payments_double.orchestrated
    request = call["request"]
    assert (request.amount, request.currency, request.payee_name, request.preferred_rail) == (
        50,
        "BRL",
        "João",
        "pix",
    )
    assert request.payer_ref == WA_ID and call["conversation"].external_conversation_id == WA_ID

    # when the sandbox initiates (BR Code) and settles the PIX payment
    with django_capture_on_commit_callbacks(execute=True):
        payments_double.settle(call["payment"])

    # then the user got the QR code (uploaded PNG + image message) and "payment received"
    bodies = [json.loads(c.request.content) for c in sent.calls]
    assert media.called and b"image/png" in media.calls[0].request.content
    image = next(b for b in bodies if b["type"] == "image")
    assert image["image"]["id"] == "4490709327384033"
    texts = [b.get("text", {}).get("body", "") for b in bodies]
    assert any(t.startswith("000201") for t in texts)  # the "copia e cola" code
    assert any("Payment received" in t for t in texts)
    run = FlowRun.objects.get()
    assert run.state == "completed" and not run.is_active
    assert list(run.transitions.values_list("to_state", flat=True)) == [
        "awaiting_confirmation",
        "submitted",
        "initiated",
        "completed",
    ]
    assert (
        OutboundMessage.objects.filter(channel="whatsapp", status="sent").count()
        == OutboundMessage.objects.count()
    )
