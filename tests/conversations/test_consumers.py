"""Live feed consumers: authentication, organisation scoping, event relay through the
process's fan-out hub (each socket once, no thread hop per event)."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from rest_framework_simplejwt.tokens import AccessToken

from apps.core.events import conversation_group, org_group
from apps.core.services import api_key_create
from tests.conversations.conftest_b import acreate, close_code, logged_in, publish, ws_open
from tests.factories import ConversationFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def member() -> Any:
    org: Any = OrganizationFactory()
    user: Any = UserFactory()
    MembershipFactory(organization=org, user=user, role="finance")
    return org, user, str(AccessToken.for_user(user))


async def test_org_stream_without_credentials_is_closed_4401() -> None:
    # given no token, key or session / when connecting / then 4401
    async with ws_open("/api/v1/stream") as ws:
        assert await close_code(ws) == 4401


async def test_org_stream_with_invalid_jwt_is_closed_4401() -> None:
    async with ws_open("/api/v1/stream?token=not-a-jwt") as ws:
        assert await close_code(ws) == 4401


async def test_org_stream_relays_org_events_after_commit(member: Any) -> None:
    # given a member connected to the organisation feed
    org, _, token = member
    async with ws_open(f"/api/v1/stream?token={token}") as ws:
        hello = await ws.receive_json_from(timeout=5)
        assert hello == {
            "type": "subscribed",
            "data": {"organization_id": str(org.pk), "conversation_id": None},
        }
        # when a service publishes a payment event for the organisation
        await sync_to_async(publish)(
            event_type="payment_completed",
            data={"payment_id": "p1", "status": "succeeded", "amount": "30.00", "currency": "BRL"},
            groups=[org_group(org.pk)],
        )
        # then the client receives it as {"type": event, "data": ...}
        event = await ws.receive_json_from(timeout=5)
        assert event == {
            "type": "payment_completed",
            "data": {"payment_id": "p1", "status": "succeeded", "amount": "30.00", "currency": "BRL"},
        }


async def test_payment_blocked_reaches_the_live_feed(member: Any) -> None:
    org, _, token = member
    async with ws_open(f"/api/v1/stream?token={token}") as ws:
        await ws.receive_json_from(timeout=5)
        blocked = {"payment_id": "p2", "status": "blocked", "reason": "blocked_by_compliance"}
        await sync_to_async(publish)(event_type="payment_blocked", data=blocked, groups=[org_group(org.pk)])
        event = await ws.receive_json_from(timeout=5)
    assert event == {"type": "payment_blocked", "data": blocked}


async def test_org_stream_does_not_leak_other_organisations(member: Any) -> None:
    org, _, token = member
    other = await acreate(OrganizationFactory)
    async with ws_open(f"/api/v1/stream?token={token}") as ws:
        await ws.receive_json_from(timeout=5)
        await sync_to_async(publish)(
            event_type="message_received", data={"n": 1}, groups=[org_group(other.pk)]
        )
        await sync_to_async(publish)(event_type="message_received", data={"n": 2}, groups=[org_group(org.pk)])
        # only the own organisation's event arrives
        assert await ws.receive_json_from(timeout=5) == {"type": "message_received", "data": {"n": 2}}
        assert await ws.receive_nothing(timeout=0.2)


async def test_conversation_stream_relays_only_that_conversation(member: Any) -> None:
    org, _, token = member
    mine = await acreate(ConversationFactory, organization=org)
    sibling = await acreate(ConversationFactory, organization=org)
    async with ws_open(f"/api/v1/conversations/{mine.pk}/stream?token={token}") as ws:
        hello = await ws.receive_json_from(timeout=5)
        assert hello["data"]["conversation_id"] == str(mine.pk)
        await sync_to_async(publish)(
            event_type="intent_detected",
            data={"intent": "send_payment", "confidence": 0.3},
            groups=[conversation_group(sibling.pk)],
        )
        await sync_to_async(publish)(
            event_type="intent_detected",
            data={"intent": "send_payment", "confidence": 0.95},
            groups=[conversation_group(mine.pk)],
        )
        event = await ws.receive_json_from(timeout=5)
        assert event == {"type": "intent_detected", "data": {"intent": "send_payment", "confidence": 0.95}}
        assert await ws.receive_nothing(timeout=0.2)


async def test_conversation_of_another_organisation_is_closed_4404(member: Any) -> None:
    _, _, token = member
    foreign = await acreate(ConversationFactory)
    async with ws_open(f"/api/v1/conversations/{foreign.pk}/stream?token={token}") as ws:
        assert await close_code(ws) == 4404


async def test_unknown_conversation_id_is_closed_4404(member: Any) -> None:
    _, _, token = member
    async with ws_open(f"/api/v1/conversations/not-a-uuid/stream?token={token}") as ws:
        assert await close_code(ws) == 4404


async def test_user_without_membership_is_closed_4403() -> None:
    loner = await acreate(UserFactory)
    async with ws_open(f"/api/v1/stream?token={AccessToken.for_user(loner)}") as ws:
        assert await close_code(ws) == 4403


async def test_api_key_in_header_with_conversations_scope_subscribes() -> None:
    org = await acreate(OrganizationFactory)
    _, raw = await sync_to_async(api_key_create)(organization=org, name="feed", scopes=["conversations"])
    async with ws_open("/api/v1/stream", headers=[(b"x-api-key", raw.encode())]) as ws:
        hello = await ws.receive_json_from(timeout=5)
        assert hello["data"]["organization_id"] == str(org.pk)


@pytest.mark.parametrize("scopes", [["payments:write"], ["read"]])
async def test_api_key_without_stream_scope_is_closed_4403(scopes: list[str]) -> None:
    # the feed carries chat texts: a read-only key is refused like a payments key
    org = await acreate(OrganizationFactory)
    _, raw = await sync_to_async(api_key_create)(organization=org, name="pay", scopes=scopes)
    async with ws_open(f"/api/v1/stream?api_key={raw}") as ws:
        assert await close_code(ws) == 4403


async def test_revoked_api_key_is_closed_4401() -> None:
    from apps.core.services import api_key_revoke

    org = await acreate(OrganizationFactory)
    key, raw = await sync_to_async(api_key_create)(organization=org, name="old", scopes=["conversations"])
    await sync_to_async(api_key_revoke)(api_key=key)
    async with ws_open(f"/api/v1/stream?api_key={raw}") as ws:
        assert await close_code(ws) == 4401


async def test_session_cookie_authenticates_the_live_feed_page(member: Any) -> None:
    org, user, _ = member
    _, cookie = await logged_in(user)
    async with ws_open("/api/v1/stream", headers=[cookie]) as ws:
        hello = await ws.receive_json_from(timeout=5)
        assert hello["data"]["organization_id"] == str(org.pk)


async def test_foreign_browser_origin_is_refused() -> None:
    from channels.testing import WebsocketCommunicator

    from tests.conversations.conftest_b import asgi_application

    communicator = WebsocketCommunicator(
        asgi_application(), "/api/v1/stream", headers=[(b"origin", b"https://evil.example")]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert not connected


async def test_every_socket_of_the_organisation_gets_an_event_exactly_once(member: Any) -> None:
    # given three sockets of one organisation and one of another, all in this process
    org, _, token = member
    other = await acreate(OrganizationFactory)
    stranger: Any = await acreate(UserFactory)
    await acreate(MembershipFactory, organization=other, user=stranger, role="finance")
    async with (
        ws_open(f"/api/v1/stream?token={token}") as a,
        ws_open(f"/api/v1/stream?token={token}") as b,
        ws_open(f"/api/v1/stream?token={token}") as c,
        ws_open(f"/api/v1/stream?token={AccessToken.for_user(stranger)}") as foreign,
    ):
        for ws in (a, b, c, foreign):
            assert (await ws.receive_json_from(timeout=5))["type"] == "subscribed"
        # when one event is published for the organisation
        await sync_to_async(publish)(
            event_type="payment_completed", data={"payment_id": "p9"}, groups=[org_group(org.pk)]
        )
        # then each of its sockets receives it once, and the other organisation's socket nothing
        for ws in (a, b, c):
            assert await ws.receive_json_from(timeout=5) == {
                "type": "payment_completed",
                "data": {"payment_id": "p9"},
            }
        for ws in (a, b, c, foreign):
            assert await ws.receive_nothing(timeout=0.2)


async def test_stream_events_do_not_hop_to_the_sync_thread(
    member: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Channels' dispatch runs close_old_connections in the sync thread before each handler: with
    # thousands of sockets that serialised every event behind one thread.
    import channels.consumer

    hops: list[int] = []
    real = channels.consumer.aclose_old_connections

    async def counting() -> None:
        hops.append(1)
        await real()

    monkeypatch.setattr(channels.consumer, "aclose_old_connections", counting)
    org, _, token = member
    async with ws_open(f"/api/v1/stream?token={token}") as ws:
        await ws.receive_json_from(timeout=5)
        before = len(hops)
        for n in range(3):
            await sync_to_async(publish)(
                event_type="message_received", data={"n": n}, groups=[org_group(org.pk)]
            )
        for n in range(3):
            assert await ws.receive_json_from(timeout=5) == {"type": "message_received", "data": {"n": n}}
        await ws.send_json_to({"type": "ping"})
        assert await ws.receive_json_from(timeout=5) == {"type": "pong", "data": {}}
        assert len(hops) == before


async def test_a_closed_socket_leaves_the_group_and_the_others_keep_receiving(member: Any) -> None:
    from apps.core.fanout import fanout_hub

    org, _, token = member
    group = org_group(org.pk)
    async with ws_open(f"/api/v1/stream?token={token}") as stays:
        await stays.receive_json_from(timeout=5)
        async with ws_open(f"/api/v1/stream?token={token}") as leaves:
            await leaves.receive_json_from(timeout=5)
            assert len(fanout_hub().groups[group].subscriptions) == 2
        assert len(fanout_hub().groups[group].subscriptions) == 1
        await sync_to_async(publish)(event_type="message_received", data={"n": 1}, groups=[group])
        assert await stays.receive_json_from(timeout=5) == {"type": "message_received", "data": {"n": 1}}
    assert group not in fanout_hub().groups


async def test_the_hub_writes_to_the_servers_own_send_with_no_wrapper_per_frame(member: Any) -> None:
    # Channels' session middleware wrapped every send in a coroutine that reads the session's
    # state through a lazy object (about half the Python time per delivered frame), though a
    # WebSocket never saves a session: the hub must be handed the server's own send.
    from apps.core.fanout import fanout_hub

    org, _, token = member
    async with ws_open(f"/api/v1/stream?token={token}") as ws:
        await ws.receive_json_from(timeout=5)
        (subscription,) = fanout_hub().groups[org_group(org.pk)].subscriptions
        assert subscription.send == ws.output_queue.put  # what the test server passed as `send`
