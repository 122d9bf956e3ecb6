"""An open live-feed socket keeps its credential honest: a revoked API key, an expired JWT, a
logged-out session or a removed membership stops its events (closed 4401) at the next recheck."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from asgiref.sync import sync_to_async
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from apps.conversations.consumers import stream_credentials_recheck
from apps.core.events import org_group
from apps.core.services import api_key_create, api_key_revoke
from tests.conversations.conftest_b import close_code, logged_in, publish, ws_open
from tests.factories import MembershipFactory, OrganizationFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


@pytest.fixture
def member() -> Any:
    org: Any = OrganizationFactory()
    user: Any = UserFactory()
    membership = MembershipFactory(organization=org, user=user, role="finance")
    return org, user, membership


async def test_a_revoked_api_key_stops_its_open_sockets(member: Any) -> None:
    org, _, _ = member
    key, raw = await sync_to_async(api_key_create)(organization=org, name="feed", scopes=["conversations"])
    _, other = await sync_to_async(api_key_create)(organization=org, name="other", scopes=["conversations"])
    async with (
        ws_open(f"/api/v1/stream?api_key={raw}") as revoked,
        ws_open(f"/api/v1/stream?api_key={other}") as kept,
    ):
        await revoked.receive_json_from(timeout=5)
        await kept.receive_json_from(timeout=5)
        # nothing lapsed yet
        assert await stream_credentials_recheck() == 0
        # when the key is revoked and the recheck runs
        await sync_to_async(api_key_revoke)(api_key=key)
        assert await stream_credentials_recheck() == 1
        # then its socket is closed 4401 and the other key's keeps receiving
        assert await close_code(revoked) == 4401
        await sync_to_async(publish)(event_type="message_received", data={"n": 1}, groups=[org_group(org.pk)])
        assert await kept.receive_json_from(timeout=5) == {"type": "message_received", "data": {"n": 1}}


async def test_an_expired_jwt_and_a_removed_membership_stop_the_socket(member: Any) -> None:
    _, user, membership = member
    async with ws_open(f"/api/v1/stream?token={AccessToken.for_user(user)}") as ws:
        await ws.receive_json_from(timeout=5)
        with time_machine.travel(timezone.now() + timedelta(days=2)):
            assert await stream_credentials_recheck() == 1
        assert await close_code(ws) == 4401
    async with ws_open(f"/api/v1/stream?token={AccessToken.for_user(user)}") as ws:
        await ws.receive_json_from(timeout=5)
        await sync_to_async(membership.delete)()
        assert await stream_credentials_recheck() == 1
        assert await close_code(ws) == 4401


async def test_logging_out_stops_the_session_socket(member: Any) -> None:
    _, user, _ = member
    client, cookie = await logged_in(user)
    async with ws_open("/api/v1/stream", headers=[cookie]) as ws:
        hello = await ws.receive_json_from(timeout=5)
        assert hello["type"] == "subscribed"
        assert await stream_credentials_recheck() == 0
        await sync_to_async(client.logout)()
        assert await stream_credentials_recheck() == 1
        assert await close_code(ws) == 4401
