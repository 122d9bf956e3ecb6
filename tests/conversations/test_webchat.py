"""Web chat: the page, the QR endpoint and the visitor's WebSocket consumer."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async

from apps.core.events import conversation_group
from tests.conversations.conftest_b import (
    ServicesDouble,
    acreate,
    close_code,
    publish,
    services_double_install,
    ws_open,
)
from tests.factories import ConversationFactory, MembershipFactory, OrganizationFactory, UserFactory

SESSION = "visitor-session-0001"


@pytest.fixture
def services_double(monkeypatch: pytest.MonkeyPatch) -> ServicesDouble:
    return services_double_install(monkeypatch)


# --- pages -------------------------------------------------------------------


@pytest.mark.django_db
def test_chat_page_uses_the_default_organisation(client: Any, settings: Any) -> None:
    # given the configured default organisation
    settings.WEBCHAT_DEFAULT_ORG = "padaria"
    OrganizationFactory(slug="padaria", name="Padaria Demo")
    # when the visitor opens /chat/
    response = client.get("/chat/")
    # then the widget is served for that organisation
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-org="padaria"' in html
    assert "Padaria Demo" in html
    assert "conversations/webchat.js" in html


@pytest.mark.django_db
def test_chat_page_for_an_organisation_slug(client: Any) -> None:
    OrganizationFactory(slug="acme", name="Acme")
    response = client.get("/chat/acme/")
    assert response.status_code == 200
    assert 'data-org="acme"' in response.content.decode()


@pytest.mark.django_db
def test_chat_page_of_unknown_or_inactive_organisation_is_404(client: Any) -> None:
    OrganizationFactory(slug="closed", is_active=False)
    assert client.get("/chat/closed/").status_code == 404
    assert client.get("/chat/nobody/").status_code == 404


def test_qr_svg_encodes_the_payload(client: Any) -> None:
    import io

    import segno

    payload = (
        "00020126580014br.gov.bcb.pix0136123e4567-e12d-4a56-9abc-0123456789ab5204000053039865802BR6304ABCD"
    )
    response = client.get("/chat/qr.svg", {"data": payload})
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    # a standalone SVG document (so <img> can show it) of the matrix segno builds for the payload
    expected = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(expected, kind="svg", scale=4, border=2, xmldecl=False)
    assert response.content == expected.getvalue()
    assert response.content.startswith(b"<svg") and b'xmlns="http://www.w3.org/2000/svg"' in response.content


def test_qr_svg_rejects_missing_or_oversized_data(client: Any) -> None:
    for params in ({}, {"data": "x" * 513}):
        response = client.get("/chat/qr.svg", params)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid_qr_data" and "data" in response.json()["errors"]


@pytest.mark.django_db
def test_live_feed_page_requires_login(client: Any) -> None:
    response = client.get("/live/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.django_db
def test_live_feed_page_shows_the_members_organisation(client: Any) -> None:
    org: Any = OrganizationFactory(name="Feed Org")
    user = UserFactory()
    MembershipFactory(organization=org, user=user)
    client.force_login(user)
    response = client.get("/live/")
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-org="{org.pk}"' in html
    assert "conversations/live.js" in html


@pytest.mark.django_db
def test_live_feed_page_refuses_users_without_organisation(client: Any) -> None:
    client.force_login(UserFactory())
    assert client.get("/live/").status_code == 403


# --- consumer ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_bad_session_id_is_closed_4400() -> None:
    await acreate(OrganizationFactory, slug="shop")
    async with ws_open("/ws/chat/shop/short") as chat:
        assert await close_code(chat) == 4400


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_unknown_organisation_is_closed_4404() -> None:
    async with ws_open(f"/ws/chat/ghost/{SESSION}") as chat:
        assert await close_code(chat) == 4404


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_new_visitor_gets_empty_history() -> None:
    await acreate(OrganizationFactory, slug="shop")
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        assert await chat.receive_json_from(timeout=5) == {
            "type": "history",
            "data": {"conversation_id": None, "messages": []},
        }


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_typed_message_goes_to_message_receive_and_reply_is_relayed(
    services_double: ServicesDouble,
) -> None:
    # given a visitor on the shop's chat
    org = await acreate(OrganizationFactory, slug="shop")
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        await chat.receive_json_from(timeout=5)  # empty history
        # when they type a payment request
        await chat.send_json_to({"type": "message", "text": "  pay ana R$ 30 via pix ", "client_id": "c-1"})
        frames = [await chat.receive_json_from(timeout=5) for _ in range(2)]
        # and the flow's later reply reaches the visitor live, since the socket joined the conversation
        conversation_id = frames[0]["data"]["conversation_id"]
        await sync_to_async(publish)(
            event_type="reply",
            data={"message_id": "m-2", "conversation_id": conversation_id, "text": "Done", "components": []},
            groups=[conversation_group(conversation_id)],
        )
        live = await chat.receive_json_from(timeout=5)
    # then the message went through Part A's service as a webchat message of this session
    (call,) = services_double.received
    assert call["organization"].pk == org.pk
    assert call["platform"] == "webchat"
    assert call["external_conversation_id"] == SESSION
    assert call["sender_id"] == SESSION
    assert call["text"] == "pay ana R$ 30 via pix"
    assert call["platform_message_id"] == "c-1"
    # and the visitor got the stored echo, then the history of the new conversation
    echo, history = frames
    assert echo["type"] == "message"
    assert echo["data"]["text"] == "pay ana R$ 30 via pix"
    assert echo["data"]["client_id"] == "c-1"
    assert history["type"] == "history"
    assert history["data"]["conversation_id"] == conversation_id
    assert [m["text"] for m in history["data"]["messages"] if m["direction"] == "inbound"] == [
        "pay ana R$ 30 via pix"
    ]
    assert live == {
        "type": "reply",
        "data": {"message_id": "m-2", "conversation_id": conversation_id, "text": "Done", "components": []},
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_button_click_calls_conversation_action_with_the_token(
    services_double: ServicesDouble,
) -> None:
    await acreate(OrganizationFactory, slug="shop")
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        await chat.receive_json_from(timeout=5)
        await chat.send_json_to({"type": "message", "text": "pay ana R$ 30 via pix"})
        for _ in range(2):
            await chat.receive_json_from(timeout=5)
        # when the visitor clicks Confirm
        await chat.send_json_to({"type": "action", "token": "confirm:run1:"})
        frame = await chat.receive_json_from(timeout=5)
    # then the action reached the service and the QR reply came back
    (action,) = services_double.actions
    assert action["action"] == "confirm"
    assert action["token"] == "confirm:run1:"
    assert action["sender_id"] == SESSION
    assert frame["type"] == "reply"
    assert frame["data"]["components"][0]["type"] == "qr"


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_action_before_any_message_is_an_error() -> None:
    await acreate(OrganizationFactory, slug="shop")
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        await chat.receive_json_from(timeout=5)
        await chat.send_json_to({"type": "action", "token": "confirm:x:"})
        frame = await chat.receive_json_from(timeout=5)
    assert frame == {"type": "error", "data": {"code": "no_conversation", "message": "Say something first."}}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ({"type": "message", "text": "   "}, "empty_message"),
        ({"type": "message", "text": "x" * 2001}, "message_too_long"),
        ({"type": "message", "text": 42}, "empty_message"),
        ({"type": "teleport"}, "unknown_frame"),
        ({"type": "action", "token": ""}, "invalid_action"),
        (["not", "an", "object"], "invalid_frame"),
    ],
)
async def test_bad_frames_get_a_machine_readable_error(frame: Any, code: str) -> None:
    await acreate(OrganizationFactory, slug="shop")
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        await chat.receive_json_from(timeout=5)
        await chat.send_json_to(frame)
        reply = await chat.receive_json_from(timeout=5)
    assert reply["type"] == "error"
    assert reply["data"]["code"] == code


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_flooding_visitor_is_throttled(services_double: ServicesDouble) -> None:
    from apps.conversations import consumers

    await acreate(OrganizationFactory, slug="shop")
    limit = consumers.WEBCHAT_RATE[0]
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        await chat.receive_json_from(timeout=5)
        for i in range(limit + 1):
            await chat.send_json_to({"type": "message", "text": f"hi {i}"})
        errors = []
        while not await chat.receive_nothing(timeout=0.5):
            frame = await chat.receive_json_from(timeout=5)
            if frame["type"] == "error":
                errors.append(frame["data"]["code"])
    assert len(services_double.received) == limit
    assert errors == ["throttled"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_refresh_replays_history_and_keeps_receiving_replies() -> None:
    # given a web chat conversation with a stored visitor message (a page refresh reconnects)
    from apps.conversations.models import ConversationMessage

    org = await acreate(OrganizationFactory, slug="shop")
    conversation = await acreate(
        ConversationFactory, organization=org, platform="webchat", external_conversation_id=SESSION
    )
    await sync_to_async(ConversationMessage.objects.create)(
        conversation=conversation, sender_id=SESSION, message_text="hello"
    )
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        history = await chat.receive_json_from(timeout=5)
        assert history["data"]["conversation_id"] == str(conversation.pk)
        assert [(m["direction"], m["text"]) for m in history["data"]["messages"]] == [("inbound", "hello")]
        # when a reply and an internal event are published to the conversation
        await sync_to_async(publish)(
            event_type="intent_detected",
            data={"intent": "none"},
            groups=[conversation_group(conversation.pk)],
        )
        await sync_to_async(publish)(
            event_type="reply",
            data={"message_id": "m1", "text": "Hi!", "components": [{"type": "text", "text": "Hi!"}]},
            groups=[conversation_group(conversation.pk)],
        )
        # then only the reply reaches the visitor (intent details stay internal)
        frame = await chat.receive_json_from(timeout=5)
        assert frame["type"] == "reply"
        assert frame["data"]["message_id"] == "m1"
        assert await chat.receive_nothing(timeout=0.2)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_another_organisations_session_is_a_different_conversation() -> None:
    a = await acreate(OrganizationFactory, slug="shop-a")
    await acreate(OrganizationFactory, slug="shop-b")
    await acreate(ConversationFactory, organization=a, platform="webchat", external_conversation_id=SESSION)
    async with ws_open(f"/ws/chat/shop-b/{SESSION}") as chat:
        history = await chat.receive_json_from(timeout=5)
    assert history["data"] == {"conversation_id": None, "messages": []}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_blocked_payment_reaches_the_visitor() -> None:
    # given a visitor whose payment compliance blocks
    org = await acreate(OrganizationFactory, slug="shop")
    conversation = await acreate(
        ConversationFactory, organization=org, platform="webchat", external_conversation_id=SESSION
    )
    async with ws_open(f"/ws/chat/shop/{SESSION}") as chat:
        await chat.receive_json_from(timeout=5)  # history
        # when payments announces the block (same shape as payment_failed)
        data = {"payment_id": "p-1", "status": "blocked", "rail": "pix", "reason": "blocked_by_compliance"}
        await sync_to_async(publish)(
            event_type="payment_blocked",
            data={**data, "conversation_id": str(conversation.pk)},
            groups=[f"org.{org.pk}", conversation_group(conversation.pk)],
        )
        frame = await chat.receive_json_from(timeout=5)
    # then the page gets it (it shows "Payment blocked")
    assert frame["type"] == "payment_blocked" and frame["data"]["reason"] == "blocked_by_compliance"
