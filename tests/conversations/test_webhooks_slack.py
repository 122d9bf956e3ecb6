"""Slack Events API and interactivity: v0 signatures (Slack's test vector), the replay window,
url_verification, messages and mentions, retries, block_actions, and a conversation to a completed payment."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
import time_machine
from django.test import Client

from apps.conversations.models import ConversationMessage, FlowRun, OutboundMessage, WebhookEvent
from apps.conversations.platforms.slack.webhooks import signature_compute, signature_valid
from tests.conversations.conftest import Intent, Party, money
from tests.conversations.factories import SLACK_SECRET, SLACK_TEAM, slack_account

URL = "/api/v1/webhooks/slack"
# Slack's documented example ("Verifying requests from Slack")
VECTOR_TIMESTAMP = "1531420618"
VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
CHANNEL = "C123ABC456"


def event_callback(event: dict, event_id: str = "Ev123ABC456") -> dict:
    return {
        "token": "XXYYZZ",
        "team_id": SLACK_TEAM,
        "api_app_id": "A123ABC456",
        "event": event,
        "type": "event_callback",
        "authed_users": ["U123ABC456"],
        "event_id": event_id,
        "event_time": 1355517523,
    }


def message_event(text: str, *, ts: str = "1355517523.000005", user: str = "U123ABC456") -> dict:
    return {
        "type": "message",
        "channel": CHANNEL,
        "user": user,
        "text": text,
        "ts": ts,
        "event_ts": ts,
        "channel_type": "channel",
    }


def block_actions(value: str, *, user: str = "U123ABC456", action_ts: str = "1548426417.840180") -> dict:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": "spengler", "name": "spengler", "team_id": SLACK_TEAM},
        "api_app_id": "A123ABC456",
        "token": "9s8d9as89d8as9d8as989",
        "container": {
            "type": "message",
            "message_ts": "1548261231.000200",
            "channel_id": CHANNEL,
            "is_ephemeral": False,
        },
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": SLACK_TEAM, "domain": "shortname"},
        "channel": {"id": CHANNEL, "name": "finance"},
        "response_url": "https://hooks.slack.com/actions/T123/456/abc",
        "actions": [
            {
                "action_id": "agentpay_confirm_0",
                "block_id": "b1",
                "text": {"type": "plain_text", "text": "Confirm"},
                "value": value,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }


def signed_post(
    client: Client,
    body: bytes,
    content_type: str,
    *,
    ts: str | None = None,
    secret: str = SLACK_SECRET,
    **headers: Any,
) -> Any:
    ts = ts or str(int(time.time()))
    sig = signature_compute(signing_secret=secret, timestamp=ts, body=body)
    return client.post(
        URL,
        data=body,
        content_type=content_type,
        HTTP_X_SLACK_REQUEST_TIMESTAMP=ts,
        HTTP_X_SLACK_SIGNATURE=sig,
        **headers,
    )


def post_json(client: Client, payload: dict, **kw: Any) -> Any:
    return signed_post(client, json.dumps(payload).encode(), "application/json", **kw)


def post_action(client: Client, payload: dict, **kw: Any) -> Any:
    return signed_post(
        client,
        urlencode({"payload": json.dumps(payload)}).encode(),
        "application/x-www-form-urlencoded",
        **kw,
    )


@pytest.fixture
def account(organization, platform_settings):
    return slack_account(organization)


def test_slack_documented_test_vector():
    assert (
        signature_compute(signing_secret=SLACK_SECRET, timestamp=VECTOR_TIMESTAMP, body=VECTOR_BODY.encode())
        == VECTOR_SIGNATURE
    )
    assert signature_valid(
        signing_secret=SLACK_SECRET,
        timestamp=VECTOR_TIMESTAMP,
        body=VECTOR_BODY.encode(),
        signature=VECTOR_SIGNATURE,
        window=300,
        now=1531420618 + 299,
    )
    # the same request six minutes later is a replay
    assert not signature_valid(
        signing_secret=SLACK_SECRET,
        timestamp=VECTOR_TIMESTAMP,
        body=VECTOR_BODY.encode(),
        signature=VECTOR_SIGNATURE,
        window=300,
        now=1531420618 + 301,
    )


def test_test_vector_request_is_accepted_by_the_endpoint_within_the_window(
    account, intent_double, django_capture_on_commit_callbacks
):
    # given Slack's example slash-command request, delivered at its own timestamp
    client = Client()
    with time_machine.travel(1531420618 + 10, tick=False), django_capture_on_commit_callbacks(execute=True):
        resp = client.post(
            URL,
            data=VECTOR_BODY.encode(),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=VECTOR_TIMESTAMP,
            HTTP_X_SLACK_SIGNATURE=VECTOR_SIGNATURE,
        )
    # then it is stored as a command from roadrunner in G8PSS9T3V
    assert resp.status_code == 200
    event = WebhookEvent.objects.get()
    assert event.event_id == "command:398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert event.payload["user_name"] == "roadrunner"
    # an empty command text is nothing to answer
    assert event.status == "skipped"


def test_replayed_request_is_refused(account):
    client = Client()
    with time_machine.travel(1531420618 + 301, tick=False):
        resp = client.post(
            URL,
            data=VECTOR_BODY.encode(),
            content_type="application/x-www-form-urlencoded",
            HTTP_X_SLACK_REQUEST_TIMESTAMP=VECTOR_TIMESTAMP,
            HTTP_X_SLACK_SIGNATURE=VECTOR_SIGNATURE,
        )
    assert resp.status_code == 401 and resp.json()["code"] == "invalid_signature"
    assert WebhookEvent.objects.count() == 0


def test_bad_signature_is_refused_and_nothing_stored(account):
    resp = post_json(Client(), event_callback(message_event("hi")), secret="not-the-secret")
    assert resp.status_code == 401
    assert WebhookEvent.objects.count() == 0


def test_url_verification_answers_the_challenge(account):
    payload = {
        "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
        "type": "url_verification",
    }
    resp = post_json(Client(), payload)
    assert resp.status_code == 200 and resp.json() == {"challenge": payload["challenge"]}


def test_message_and_mention_of_the_same_post_become_one_message(
    account, intent_double, django_capture_on_commit_callbacks
):
    client = Client()
    mention = {
        "type": "app_mention",
        "user": "U061F7AUR",
        "text": "<@U0LAN0Z89> is it everything a river should be?",
        "ts": "1515449522.000016",
        "channel": CHANNEL,
        "event_ts": "1515449522.000016",
    }
    message = {**mention, "type": "message"}
    with django_capture_on_commit_callbacks(execute=True):
        post_json(client, event_callback(message, "Ev1"))
        post_json(client, event_callback(mention, "Ev2"))
    assert WebhookEvent.objects.count() == 2
    [stored] = ConversationMessage.objects.filter(direction="inbound")
    assert stored.message_text == "is it everything a river should be?"  # the bot mention is stripped
    assert stored.conversation.external_conversation_id == CHANNEL


def test_retries_are_deduplicated(account, intent_double, django_capture_on_commit_callbacks):
    client = Client()
    payload = event_callback(message_event("hello"))
    with django_capture_on_commit_callbacks(execute=True):
        first = post_json(client, payload)
        retry = post_json(
            client, payload, HTTP_X_SLACK_RETRY_NUM="1", HTTP_X_SLACK_RETRY_REASON="http_timeout"
        )
    assert first.json()["stored"] == 1 and retry.status_code == 200 and retry.json()["stored"] == 0
    assert ConversationMessage.objects.filter(direction="inbound").count() == 1


def test_bot_messages_are_stored_but_not_answered(account, intent_double, django_capture_on_commit_callbacks):
    bot = {**message_event("I am a bot"), "subtype": "bot_message", "bot_id": "B123"}
    with django_capture_on_commit_callbacks(execute=True):
        post_json(Client(), event_callback(bot))
    assert WebhookEvent.objects.get().status == "skipped"
    assert not ConversationMessage.objects.exists()


def test_conversation_from_first_message_to_completed_payment(
    account, slack_fake, intent_double, payments_double, django_capture_on_commit_callbacks
):
    # given
    intent_double.understand(
        "pay <@U0BOB> $45 for lunch",
        Intent(
            "send_payment", amounts=[money("45", "USD")], parties=[Party("mention", "U0BOB")], purpose="lunch"
        ),
    )
    client = Client()
    # when Alice asks in the channel
    with django_capture_on_commit_callbacks(execute=True):
        post_json(client, event_callback(message_event("pay <@U0BOB> $45 for lunch", user="U0ALICE")))
    # then a Block Kit confirmation is posted with Confirm/Cancel buttons
    method, card = slack_fake.calls[0]
    assert method == "chat.postMessage" and card["channel"] == CHANNEL and card["_auth"] == "Bearer xoxb-test"
    blocks = card["blocks"] if isinstance(card["blocks"], list) else json.loads(card["blocks"])
    actions = next(b for b in blocks if b["type"] == "actions")["elements"]
    assert [a["text"]["text"] for a in actions] == ["Confirm", "Cancel"] and actions[0]["style"] == "primary"
    assert "$ 45.00" in card["text"]

    # when Bob (not the payer) taps Confirm, nothing happens but a notice
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, block_actions(actions[0]["value"], user="U0BOB", action_ts="1.1"))
    assert payments_double.orchestrated == []

    # when Alice taps Confirm
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, block_actions(actions[0]["value"], user="U0ALICE", action_ts="1.2"))
    # then the card is updated in place and the payment is orchestrated
    [call] = payments_double.orchestrated
    assert call["request"].payee_ref == "U0BOB" and call["request"].purpose == "lunch"
    updates = [c for m, c in slack_fake.calls if m == "chat.update"]
    assert updates and updates[0]["ts"] == "1700000000.000001" and "Confirmed" in updates[0]["text"]

    # when the sandbox settles (card rail here)
    payment = call["payment"]
    payment.selected_rail = "stripe"
    payment.save(update_fields=["selected_rail"])
    with django_capture_on_commit_callbacks(execute=True):
        payments_double.settle(payment)
    # then the channel hears about initiation and "Payment received" with a receipt
    texts = [c["text"] for m, c in slack_fake.calls if m == "chat.postMessage"]
    assert any("initiated via STRIPE" in t for t in texts)
    assert any("Payment received" in t for t in texts)
    assert FlowRun.objects.get().state == "completed"
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {"sent"}


def test_an_edit_updates_the_pending_card_in_place(
    account, slack_fake, intent_double, payments_double, django_capture_on_commit_callbacks
):
    intent_double.understand(
        "pay <@U0BOB> $45 for lunch",
        Intent("send_payment", amounts=[money("45", "USD")], parties=[Party("mention", "U0BOB")]),
    )
    intent_double.understand("make it $50", Intent("send_payment", amounts=[money("50", "USD")]))
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        post_json(client, event_callback(message_event("pay <@U0BOB> $45 for lunch", user="U0ALICE"), "Ev10"))
        post_json(
            client,
            event_callback(message_event("make it $50", user="U0ALICE", ts="1355517524.000001"), "Ev11"),
        )
    # then the one card was rewritten with chat.update (same ts), not posted again
    posts = [c for m, c in slack_fake.calls if m == "chat.postMessage"]
    [update] = [c for m, c in slack_fake.calls if m == "chat.update"]
    assert len(posts) == 1 and "$ 45.00" in posts[0]["text"]
    assert update["ts"] == "1700000000.000001" and "$ 50.00" in update["text"]
    actions = next(b for b in update["blocks"] if b["type"] == "actions")["elements"]
    # and its Confirm pays the edited amount
    with django_capture_on_commit_callbacks(execute=True):
        post_action(client, block_actions(actions[0]["value"], user="U0ALICE", action_ts="2.1"))
    [call] = payments_double.orchestrated
    assert (call["request"].amount, call["request"].currency) == (50, "USD")
