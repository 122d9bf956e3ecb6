"""The hand-off from an acknowledged webhook to its processing.

With Redis, a stored event's id is pushed on a pending list and a drain task is sent once per
burst (not per event); the drain processes batches. Without it (or with its push failing) the row
is still stored and acknowledged, and the beat sweep queues it again. Either way: stored once,
processed once, and the drained message reaches the flow engine."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, TestCase
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError

from apps.conversations import services, tasks
from apps.conversations.models import ConversationMessage, FlowRun, WebhookEvent
from apps.conversations.platforms.slack.webhooks import signature_compute
from tests.conversations import test_webhooks_telegram as telegram_tests
from tests.conversations.factories import (
    SLACK_SECRET,
    TG_SECRET,
    WA_APP_SECRET,
    slack_account,
    telegram_account,
    whatsapp_account,
)
from tests.conversations.handoff import handoff_fixture  # noqa: F401 (the "handoff" fixture)
from tests.conversations.test_webhooks_slack import event_callback, message_event
from tests.conversations.test_webhooks_telegram import calls, message_update, understand_pay_ana
from tests.conversations.test_webhooks_whatsapp import envelope, text_message

pytestmark = pytest.mark.django_db
bot_api = telegram_tests.bot_api  # the Telegram Bot API double (a fixture)


def committed(post: Any) -> Any:
    """Run the hooks a request registered for after commit, as in production (autocommit): the
    test's own transaction would hold them back."""

    def run(*args: Any, **kwargs: Any) -> Any:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return post(*args, **kwargs)

    return run


@committed
def tg_post(update_id: int, text: str = "oi", secret: str = TG_SECRET) -> Any:
    return Client().post(
        "/api/v1/webhooks/telegram",
        data=json.dumps(message_update(update_id, text)),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
    )


@committed
def wa_post(key: str, secret: str = WA_APP_SECRET) -> Any:
    body = json.dumps(envelope(messages=[text_message("oi", wamid=key)])).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Client().post(
        "/api/v1/webhooks/whatsapp", data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sig
    )


@committed
def slack_post(key: str, secret: str = SLACK_SECRET) -> Any:
    body = json.dumps(event_callback(message_event("oi"), event_id=key)).encode()
    timestamp = str(int(time.time()))
    return Client().post(
        "/api/v1/webhooks/slack",
        data=body,
        content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=signature_compute(signing_secret=secret, timestamp=timestamp, body=body),
    )


PLATFORMS = {
    # platform: (account factory, post(key, secret), a key, the refusal's status)
    "telegram": (telegram_account, lambda key, **kw: tg_post(int(key), **kw), "501", 403),
    "whatsapp": (whatsapp_account, wa_post, "wamid.HBgN501", 401),
    "slack": (slack_account, slack_post, "Ev0501", 401),
}


class FailingRedis:
    """A Redis that is down: every command fails to connect."""

    def pipeline(self, **_kw: Any) -> FailingRedis:
        return self

    def __getattr__(self, _name: str) -> Any:
        def fail(*_a: Any, **_kw: Any) -> Any:
            raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

        return fail


@pytest.fixture
def no_redis_handoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hand-off of a deployment without Redis (local memory cache): one task per event."""
    monkeypatch.setattr(services, "_queue_client", lambda: None)


# --- every platform: stored once, handed off once; refused → nothing stored or queued -------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_duplicate_delivery_is_stored_and_handed_off_once(
    platform, organization, platform_settings, handoff
):
    make_account, post, key, _ = PLATFORMS[platform]
    make_account(organization)
    # when the platform delivers the same event twice (a retry)
    first, again = post(key), post(key)
    # then both are acknowledged, one row exists, and it is handed to processing once
    assert first.status_code == again.status_code == 200
    assert first.json()["stored"] == 1 and again.json()["stored"] == 0
    event = WebhookEvent.objects.get()
    assert event.platform == platform and event.status == "received"
    assert handoff.pending() == [event.pk]
    # and processing it twice (the sweep, a redelivered task) does not store the message twice
    assert handoff.drain(hooks=False) == 1
    services.webhook_event_process(webhook_event_id=event.pk)
    assert WebhookEvent.objects.get().status == "processed"
    assert ConversationMessage.objects.filter(direction="inbound").count() == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_a_bad_signature_is_refused_and_nothing_is_stored_or_queued(
    platform, organization, platform_settings, handoff
):
    make_account, post, key, status = PLATFORMS[platform]
    make_account(organization)
    resp = post(key, secret="not-the-secret")
    assert resp.status_code == status
    assert resp.json()["code"] in ("invalid_signature", "invalid_secret_token") and resp.json()["message"]
    assert set(resp.json()) == {"code", "message", "errors"}
    assert WebhookEvent.objects.count() == 0
    assert handoff.pending() == [] and handoff.drains == 0 and not handoff.drain_flag()


# --- the Redis hand-off -----------------------------------------------------------------
@pytest.mark.redis
def test_a_burst_of_webhooks_sends_one_drain_task(organization, platform_settings, handoff):
    telegram_account(organization)
    for update_id in range(1, 6):
        assert tg_post(update_id).status_code == 200
    ids = list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    # one push per event, in arrival order, and a single drain task for the whole burst
    assert handoff.pending() == ids and len(ids) == 5
    assert handoff.drains == 1 and handoff.drain_flag()
    # the drain processes them all, then releases the flag: the next event sends a new drain
    assert tasks.webhook_events_drain_task.run() == 5
    assert handoff.pending() == [] and not handoff.drain_flag()
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert tg_post(6).status_code == 200 and handoff.drains == 2


@pytest.mark.redis
def test_a_full_batch_sends_another_drain_for_the_rest(organization, platform_settings, handoff):
    telegram_account(organization)
    for update_id in range(1, 4):
        tg_post(update_id)
    assert handoff.drains == 1
    # a batch of 2 out of 3: another drain is sent for what may be left, the flag stays
    assert services.webhook_events_drain(batch=2) == 2
    assert handoff.drains == 2 and len(handoff.pending()) == 1 and handoff.drain_flag()
    # the last one: nothing left, no further drain, the flag released
    assert services.webhook_events_drain(batch=2) == 1
    assert handoff.drains == 2 and handoff.pending() == [] and not handoff.drain_flag()


@pytest.mark.redis
def test_an_event_arriving_while_the_drain_finishes_is_not_stranded(
    organization, platform_settings, handoff, monkeypatch
):
    # An event pushed after the drain's last pop, while the flag is still set, sends no drain of
    # its own; the drain must see it when it releases the flag and send one.
    telegram_account(organization)
    tg_post(1)
    process = services.webhook_event_process

    def process_then_another_arrives(*, webhook_event_id: int) -> WebhookEvent:
        event = process(webhook_event_id=webhook_event_id)
        if WebhookEvent.objects.count() == 1:
            assert tg_post(2).status_code == 200  # the flag is set: no drain sent for it
        return event

    monkeypatch.setattr(services, "webhook_event_process", process_then_another_arrives)
    assert handoff.drains == 1
    assert services.webhook_events_drain() == 1
    late = WebhookEvent.objects.get(event_id="7000000001:2")
    assert handoff.pending() == [late.pk] and handoff.drains == 2 and handoff.drain_flag()


@pytest.mark.redis
def test_a_failing_event_does_not_hold_up_the_others(organization, platform_settings, handoff, monkeypatch):
    telegram_account(organization)
    for update_id in (1, 2, 3):
        tg_post(update_id)
    broken = WebhookEvent.objects.get(event_id="7000000001:2").pk
    process = services.webhook_event_process

    def process_or_fail(*, webhook_event_id: int) -> WebhookEvent:
        if webhook_event_id == broken:
            raise RuntimeError("the database went away")
        return process(webhook_event_id=webhook_event_id)

    monkeypatch.setattr(services, "webhook_event_process", process_or_fail)
    assert services.webhook_events_drain() == 2
    statuses = dict(WebhookEvent.objects.values_list("event_id", "status"))
    assert statuses == {"7000000001:1": "processed", "7000000001:2": "received", "7000000001:3": "processed"}
    assert not handoff.drain_flag()  # and the sweep will queue the failed one again


@pytest.mark.redis
def test_a_drain_task_the_broker_refused_lets_the_next_event_try_again(
    organization, platform_settings, handoff, monkeypatch
):
    telegram_account(organization)

    def broker_down(*_a: Any, **_kw: Any) -> None:
        raise KombuOperationalError("Error 111 connecting to the broker")

    monkeypatch.setattr(tasks.webhook_events_drain_task, "apply_async", broker_down)
    assert tg_post(1).status_code == 200
    assert not handoff.drain_flag()  # not left set for WEBHOOK_DRAIN_FLAG_TTL with no drain coming
    assert len(handoff.pending()) == 1


# --- the queue is down: stored and acknowledged anyway, the sweep picks it up --------------
def _queue_down(monkeypatch: pytest.MonkeyPatch, *, redis_path: bool) -> None:
    if redis_path:
        monkeypatch.setattr(services, "_queue_client", lambda: FailingRedis())
    else:

        def broker_down(*_a: Any, **_kw: Any) -> None:
            raise KombuOperationalError("Error 111 connecting to the broker")

        monkeypatch.setattr(tasks.webhook_event_process_task, "apply_async", broker_down)


@pytest.mark.parametrize("redis_path", [pytest.param(True, marks=pytest.mark.redis), False])
def test_an_event_survives_an_unavailable_queue_and_the_sweep_processes_it(
    redis_path, organization, platform_settings, handoff, intent_double, monkeypatch
):
    # given the hand-off of this deployment is down
    telegram_account(organization)
    if not redis_path:
        monkeypatch.setattr(services, "_queue_client", lambda: None)
    with monkeypatch.context() as down:
        _queue_down(down, redis_path=redis_path)
        # when a message arrives
        resp = tg_post(77, "oi, tudo bem?")
        # then it is acknowledged only because it is stored, and nothing was queued
        assert resp.status_code == 200 and resp.json()["stored"] == 1
    event = WebhookEvent.objects.get()
    assert event.status == "received" and handoff.pending() == [] and handoff.drains == 0
    assert not ConversationMessage.objects.exists()
    # when the queue is back and beat runs the sweep
    assert services.webhook_events_retry_stale(older_than_seconds=0) == 1
    assert handoff.pending() == [event.pk]
    handoff.drain()
    # then the event is processed and its message stored
    assert WebhookEvent.objects.get().status == "processed"
    [message] = ConversationMessage.objects.filter(direction="inbound")
    assert message.message_text == "oi, tudo bem?" and message.platform_message_id


def test_without_redis_each_event_gets_its_own_task(
    organization, platform_settings, handoff, no_redis_handoff
):
    telegram_account(organization)
    tg_post(1)
    tg_post(2)
    tg_post(2)
    assert handoff.event_tasks == list(WebhookEvent.objects.order_by("pk").values_list("pk", flat=True))
    assert handoff.drains == 0


# --- the drained event reaches the flow engine --------------------------------------------
@pytest.mark.parametrize("redis_path", [pytest.param(True, marks=pytest.mark.redis), False])
def test_the_drained_event_reaches_the_flow_engine(
    redis_path, organization, platform_settings, handoff, intent_double, bot_api, monkeypatch
):
    # given Ana's message arrives and is acknowledged, not yet processed
    if not redis_path:
        monkeypatch.setattr(services, "_queue_client", lambda: None)
    telegram_account(organization)
    understand_pay_ana(intent_double)
    assert tg_post(20000, "pague R$ 30 para a Ana via pix").status_code == 200
    assert not FlowRun.objects.exists() and calls(bot_api, "sendMessage") == []
    # when the worker drains the queue
    assert handoff.drain() == 1
    # then the intent engine saw the text, a payment flow waits for confirmation, and the card went out
    assert intent_double.calls[0]["text"] == "pague R$ 30 para a Ana via pix"
    run = FlowRun.objects.get()
    assert run.is_active and run.kind == "direct_payment"
    [card] = calls(bot_api, "sendMessage")
    assert "Enviar R$ 30.00 para Ana via PIX?" in json.loads(card.content)["text"]


def test_a_poison_event_counts_its_attempts_and_is_marked_failed_after_the_last(
    organization, platform_settings, monkeypatch
):
    # given a stored event whose processing always raises inside its transaction
    telegram_account(organization)
    assert tg_post(1).status_code == 200
    event = WebhookEvent.objects.get(event_id="7000000001:1")
    WebhookEvent.objects.filter(pk=event.pk).update(status="received", attempts=0)

    def explode(_event: Any) -> None:
        raise ValueError("unparseable update")

    monkeypatch.setattr(services, "_parse", explode)
    # when it is processed as many times as the sweep allows
    for attempt in range(1, services.WEBHOOK_MAX_ATTEMPTS + 1):
        with pytest.raises(ValueError):
            services.webhook_event_process(webhook_event_id=event.pk)
        event.refresh_from_db()
        # then each attempt is counted although its transaction rolled back, with the error
        assert event.attempts == attempt and event.error == "ValueError: unparseable update"
        assert event.status == ("failed" if attempt == services.WEBHOOK_MAX_ATTEMPTS else "received")
    # and the sweep no longer queues it
    queued: list[list[int]] = []
    monkeypatch.setattr(services, "webhook_events_enqueue", lambda *, ids: queued.append(list(ids)))
    WebhookEvent.objects.filter(pk=event.pk).update(received_at=event.received_at - timedelta(hours=1))
    services.webhook_events_retry_stale()
    assert queued == [[]]
