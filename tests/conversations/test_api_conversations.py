"""REST for conversations: list (filters, cursor pages), detail, messages, and sending a message
through the platform's outbox (idempotent), with scopes, roles and organisation isolation."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from apps.conversations import services
from apps.conversations.models import Conversation, ConversationMessage, FlowRun, OutboundMessage
from apps.conversations.platforms.base import Reply
from apps.core.services import api_key_create
from tests.conversations.factories import telegram_account
from tests.factories import ConversationFactory, MembershipFactory, OrganizationFactory, UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/conversations"


def key_client(organization: Any, scopes: list[str]) -> APIClient:
    _, raw = api_key_create(organization=organization, name="integration", scopes=scopes)
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=raw)
    return client


def person_client(organization: Any, role: str) -> APIClient:
    user: Any = UserFactory()
    MembershipFactory(organization=organization, user=user, role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AccessToken.for_user(user)}")
    return client


def conversation_at(
    organization: Any, platform: str, *, created: Any, last_message: Any = None
) -> Conversation:
    conversation: Any = ConversationFactory(organization=organization, platform=platform)
    Conversation.objects.filter(pk=conversation.pk).update(created_at=created, last_message_at=last_message)
    conversation.refresh_from_db()
    return conversation


@pytest.fixture
def api(organization: Any) -> APIClient:
    return key_client(organization, ["conversations"])


def test_the_list_is_the_organisations_newest_first_in_cursor_pages(
    organization: Any, api: APIClient
) -> None:
    now = timezone.now()
    oldest, middle, newest = (
        conversation_at(organization, "webchat", created=now - timedelta(hours=h)) for h in (3, 2, 1)
    )
    ConversationFactory()  # another organisation's
    first = api.get(URL, {"page_size": 2})
    second = api.get(first.json()["next"])
    assert first.status_code == 200
    assert [c["id"] for c in first.json()["results"]] == [str(newest.pk), str(middle.pk)]
    assert [c["id"] for c in second.json()["results"]] == [str(oldest.pk)]
    assert second.json()["next"] is None


def test_filters_by_platform_status_and_dates(organization: Any, api: APIClient) -> None:
    now = timezone.now()
    waiting = conversation_at(organization, "slack", created=now - timedelta(days=5), last_message=now)
    FlowRun.objects.create(conversation=waiting, kind="direct_payment", state="awaiting_confirmation")
    active = conversation_at(organization, "telegram", created=now - timedelta(days=4), last_message=now)
    idle = conversation_at(
        organization, "webchat", created=now - timedelta(days=9), last_message=now - timedelta(days=3)
    )

    def ids(**query: Any) -> set[str]:
        response = api.get(URL, query)
        assert response.status_code == 200, response.json()
        return {c["id"] for c in response.json()["results"]}

    assert ids(platform="slack") == {str(waiting.pk)}
    assert ids(platform=["telegram", "webchat"]) == {str(active.pk), str(idle.pk)}
    assert ids(status="pending") == {str(waiting.pk)}
    assert ids(status="active") == {str(active.pk)}
    assert ids(status=["idle", "active"]) == {str(active.pk), str(idle.pk)}
    assert ids(created_before=(now - timedelta(days=6)).isoformat()) == {str(idle.pk)}
    assert ids(last_message_after=(now - timedelta(days=1)).isoformat()) == {str(waiting.pk), str(active.pk)}
    assert api.get(URL, {"status": "sleeping"}).json()["code"] == "validation_error"


def test_the_detail_shows_the_flow_that_holds_the_conversation(organization: Any, api: APIClient) -> None:
    conversation: Any = ConversationFactory(organization=organization, platform="telegram", language="pt")
    run = FlowRun.objects.create(
        conversation=conversation, kind="direct_payment", state="awaiting_confirmation"
    )
    body = api.get(f"{URL}/{conversation.pk}").json()
    assert (body["platform"], body["language"], body["status"]) == ("telegram", "pt", "pending")
    assert body["participants"] == [{"id": "u1", "name": "Ana"}, {"id": "u2", "name": "João"}]
    assert (body["active_flow"]["id"], body["active_flow"]["kind"]) == (str(run.pk), "direct_payment")


def test_another_organisations_conversation_is_404_everywhere(organization: Any, api: APIClient) -> None:
    foreign: Any = ConversationFactory(organization=OrganizationFactory())
    ConversationMessage.objects.create(conversation=foreign, sender_id="x", message_text="secret")
    answers = [
        api.get(f"{URL}/{foreign.pk}"),
        api.get(f"{URL}/{foreign.pk}/messages"),
        api.post(f"{URL}/{foreign.pk}/messages", {"text": "hi"}, format="json"),
    ]
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, "conversation_not_found")] * 3
    assert not OutboundMessage.objects.exists()
    assert api.get(f"{URL}/not-a-uuid").status_code == 404


def test_messages_of_both_directions_newest_first_with_their_delivery(
    organization: Any, api: APIClient
) -> None:
    conversation: Any = ConversationFactory(organization=organization, platform="slack")
    inbound = ConversationMessage.objects.create(
        conversation=conversation,
        sender_id="U0ALICE",
        sender_name="Alice",
        message_text="pay bob $ 20",
        detected_intent="send_payment",
        confidence_score=0.91,
    )
    for n in range(5):  # no Slack credentials: the replies sit in the local outbox
        services.reply_send(conversation=conversation, reply=Reply(text=f"reply {n}"))
    rows = api.get(f"{URL}/{conversation.pk}/messages").json()["results"]
    assert [m["text"] for m in rows] == [
        "reply 4",
        "reply 3",
        "reply 2",
        "reply 1",
        "reply 0",
        "pay bob $ 20",
    ]
    assert rows[0]["direction"] == "outbound" and rows[0]["delivery"]["channel"] == "local"
    assert rows[0]["delivery"]["status"] == "sent"
    assert (rows[-1]["id"], rows[-1]["intent"], rows[-1]["confidence"], rows[-1]["delivery"]) == (
        str(inbound.pk),
        "send_payment",
        0.91,
        None,
    )
    only_inbound = api.get(f"{URL}/{conversation.pk}/messages", {"direction": "inbound"}).json()["results"]
    assert [m["id"] for m in only_inbound] == [str(inbound.pk)]


def test_a_page_of_messages_costs_the_same_queries_however_many_replies(
    organization: Any, api: APIClient
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    conversation: Any = ConversationFactory(organization=organization, platform="slack")

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"{URL}/{conversation.pk}/messages").status_code == 200
        return len(captured)

    services.reply_send(conversation=conversation, reply=Reply(text="one"))
    queries_for_a_page()  # the key's first use also stamps its last_used_at
    few = queries_for_a_page()
    for n in range(20):
        services.reply_send(conversation=conversation, reply=Reply(text=f"reply {n}"))
    assert queries_for_a_page() == few


@pytest.fixture
def bot_api(platform_settings: Any) -> Any:
    with respx.mock(assert_all_called=False) as router:
        router.route(host="api.telegram.test").mock(
            return_value=httpx.Response(200, json={"ok": True, "result": {"message_id": 501}})
        )
        yield router


def test_sending_goes_through_the_platform_and_is_stored_before_the_answer(
    organization: Any, bot_api: Any, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a Telegram conversation of a connected bot
    telegram_account(organization)
    conversation: Any = ConversationFactory(
        organization=organization, platform="telegram", external_conversation_id="1111111"
    )
    api = person_client(organization, "finance")
    published: list[str] = []
    monkeypatch.setattr("apps.core.events._send", lambda groups, message: published.append(message["event"]))
    # when a finance person writes to the customer
    with django_capture_on_commit_callbacks(execute=False) as pending:
        response = api.post(
            f"{URL}/{conversation.pk}/messages",
            {"text": "Hi! Your refund <is> on its way."},
            format="json",
            HTTP_IDEMPOTENCY_KEY="note-1",
        )
    # then the message is stored and queued before the answer, and nothing was sent yet
    assert response.status_code == 201
    body = response.json()
    message = ConversationMessage.objects.get(pk=body["id"])
    outbound = OutboundMessage.objects.get(conversation=conversation)
    assert (message.direction, message.message_text) == ("outbound", "Hi! Your refund <is> on its way.")
    assert body["delivery"] == {
        **body["delivery"],
        "id": str(outbound.pk),
        "channel": "telegram",
        "status": "queued",
    }
    assert body["sent_by"].startswith("user:")
    assert not bot_api.calls and pending
    # when the transaction's callbacks run (the delivery task, the streams)
    for callback in pending:
        callback()
    # then Telegram got it (HTML-escaped) and the conversation's streams heard the reply
    [call] = [c.request for c in bot_api.calls if c.request.url.path.endswith("/sendMessage")]
    assert json.loads(call.content)["text"] == "Hi! Your refund &lt;is&gt; on its way."
    outbound.refresh_from_db()
    assert outbound.status == "sent" and outbound.provider_message_id == "501"
    assert "reply" in published


def test_sending_is_idempotent_with_an_idempotency_key(organization: Any, api: APIClient) -> None:
    conversation: Any = ConversationFactory(organization=organization, platform="webchat")
    path = f"{URL}/{conversation.pk}/messages"
    first = api.post(path, {"text": "We got your payment."}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    again = api.post(path, {"text": "We got your payment."}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    other = api.post(path, {"text": "Something else"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
    assert again.json()["id"] == first.json()["id"] and again["Idempotent-Replayed"] == "true"
    assert other.json()["code"] == "idempotency_key_reused"
    assert OutboundMessage.objects.filter(conversation=conversation).count() == 1
    assert first.json()["delivery"]["channel"] == "webchat"  # web chat replies travel on the stream


def test_an_empty_or_too_long_message_is_a_validation_error(organization: Any, api: APIClient) -> None:
    conversation: Any = ConversationFactory(organization=organization)
    for text in ("", "x" * 4001):
        response = api.post(f"{URL}/{conversation.pk}/messages", {"text": text}, format="json")
        assert response.status_code == 400 and "text" in response.json()["errors"]
    assert not OutboundMessage.objects.exists()


def test_api_keys_need_the_conversations_scope(organization: Any) -> None:
    conversation: Any = ConversationFactory(organization=organization)
    reader = key_client(organization, ["read"])
    payer = key_client(organization, ["payments:write"])
    allowed = key_client(organization, ["conversations"])
    # chat texts and participants are not for a read-only key
    assert reader.get(URL).status_code == 403
    assert reader.get(f"{URL}/{conversation.pk}/messages").status_code == 403
    assert payer.post(f"{URL}/{conversation.pk}/messages", {"text": "hi"}, format="json").status_code == 403
    assert allowed.get(URL).status_code == 200
    assert allowed.post(f"{URL}/{conversation.pk}/messages", {"text": "hi"}, format="json").status_code == 201
    assert APIClient().get(URL).status_code == 401


def test_developers_read_conversations_but_do_not_write_to_customers(organization: Any) -> None:
    conversation: Any = ConversationFactory(organization=organization)
    developer = person_client(organization, "developer")
    reviewer = person_client(organization, "compliance_reviewer")
    assert developer.get(f"{URL}/{conversation.pk}/messages").status_code == 200
    assert (
        developer.post(f"{URL}/{conversation.pk}/messages", {"text": "hi"}, format="json").status_code == 403
    )
    assert (
        reviewer.post(f"{URL}/{conversation.pk}/messages", {"text": "hi"}, format="json").status_code == 201
    )


def test_the_schema_documents_the_endpoints(organization: Any, auth_client: APIClient) -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = schema["paths"]
    assert set(paths["/api/v1/conversations/{conversation_id}/messages"]) == {"get", "post"}
    post = paths["/api/v1/conversations/{conversation_id}/messages"]["post"]
    assert "Idempotency-Key" in [p["name"] for p in post["parameters"]]
    assert {"platform", "status", "created_after", "last_message_after", "cursor"} <= {
        p["name"] for p in paths["/api/v1/conversations"]["get"]["parameters"]
    }
    assert "/api/v1/conversations/{conversation_id}" in paths


def test_a_page_of_conversations_costs_the_same_queries_however_many(
    organization: Any, api: APIClient
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def add(n: int) -> None:
        for _ in range(n):
            conversation: Any = ConversationFactory(organization=organization)
            FlowRun.objects.create(conversation=conversation, kind="direct_payment", state="collecting")

    def queries_for_a_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert all(c["active_flow"] for c in api.get(URL).json()["results"])
        return len(captured)

    add(2)
    queries_for_a_page()  # the key's first use also stamps its last_used_at
    few = queries_for_a_page()
    add(15)
    assert queries_for_a_page() == few
