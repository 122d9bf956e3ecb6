"""The webhook ingest path: cached account lookups that never outlive a change of the account,
one-statement storage with duplicates acknowledged and ignored, and the processing task queued
only once the row is committed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from apps.conversations import selectors, services
from apps.conversations.models import PlatformAccount, WebhookEvent
from apps.conversations.platforms.crypto import secret_hash
from apps.conversations.platforms.slack.webhooks import signature_compute
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
from tests.conversations.test_webhooks_telegram import message_update
from tests.conversations.test_webhooks_whatsapp import envelope, text_message
from tests.factories import UserFactory

TG_URL = "/api/v1/webhooks/telegram"
WA_URL = "/api/v1/webhooks/whatsapp"
SLACK_URL = "/api/v1/webhooks/slack"


def tg_post(update_id: int, secret: str = TG_SECRET) -> Any:
    return Client().post(
        TG_URL,
        data=json.dumps(message_update(update_id, "oi")),
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
    )


def wa_post(wamid: str, secret: str = WA_APP_SECRET) -> Any:
    body = json.dumps(envelope(messages=[text_message("oi", wamid=wamid)])).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Client().post(WA_URL, data=body, content_type="application/json", HTTP_X_HUB_SIGNATURE_256=sig)


def slack_post(event_id: str, secret: str = SLACK_SECRET) -> Any:
    body = json.dumps(event_callback(message_event("oi"), event_id=event_id)).encode()
    timestamp = str(int(time.time()))
    return Client().post(
        SLACK_URL,
        data=body,
        content_type="application/json",
        HTTP_X_SLACK_REQUEST_TIMESTAMP=timestamp,
        HTTP_X_SLACK_SIGNATURE=signature_compute(signing_secret=secret, timestamp=timestamp, body=body),
    )


def account_queries(queries: CaptureQueriesContext) -> list[str]:
    table = PlatformAccount._meta.db_table
    return [q["sql"] for q in queries.captured_queries if table in q["sql"]]


# --- cached account lookups ------------------------------------------------------------
@pytest.mark.django_db
def test_the_account_lookup_is_cached_and_holds_no_plaintext_secret(organization, platform_settings, handoff):
    telegram_account(organization)
    assert tg_post(1).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert tg_post(2).status_code == 200
    # the second webhook found its account without asking the database: one INSERT, nothing else
    assert account_queries(queries) == []
    assert len(queries.captured_queries) == 1
    assert queries.captured_queries[0]["sql"].upper().startswith("INSERT")
    # and nothing the cache holds contains the secret in clear
    from django.core.cache import cache

    key = f"conversations:platform_account:s:telegram:{secret_hash(TG_SECRET)}"
    entry = cache.get(key)
    assert entry is not None and TG_SECRET not in repr(entry)


@pytest.mark.django_db
def test_a_changed_telegram_secret_is_refused_right_after_the_change(
    organization, platform_settings, handoff
):
    account = telegram_account(organization)
    assert tg_post(1).status_code == 200  # cached now
    services.platform_account_secrets_set(account=account, secrets={"webhook_secret": "the-new-secret"})
    resp = tg_post(2)
    assert resp.status_code == 403 and resp.json()["code"] == "invalid_secret_token"
    assert tg_post(3, secret="the-new-secret").status_code == 200
    assert sorted(WebhookEvent.objects.values_list("event_id", flat=True)) == ["7000000001:1", "7000000001:3"]


@pytest.mark.django_db
def test_a_deactivated_account_is_refused_right_after_a_save(organization, platform_settings, handoff):
    account = telegram_account(organization)
    assert tg_post(1).status_code == 200
    account = PlatformAccount.objects.get(pk=account.pk)
    account.is_active = False
    account.save()  # post_save, as any code path that saves the model
    assert tg_post(2).status_code == 403
    assert WebhookEvent.objects.count() == 1


@pytest.mark.django_db
def test_a_deleted_account_is_refused_right_after(organization, platform_settings, handoff):
    account = telegram_account(organization)
    assert tg_post(1).status_code == 200
    PlatformAccount.objects.filter(pk=account.pk).delete()  # post_delete
    assert tg_post(2).status_code == 403


@pytest.mark.django_db
def test_deactivation_in_the_admin_is_refused_right_after(organization, platform_settings, settings, handoff):
    # the admin's change form writes with QuerySet.update() (no post_save): its LogEntry invalidates
    settings.ADMIN_REQUIRE_OTP = False
    staff = Client()
    staff.force_login(UserFactory(is_staff=True, is_superuser=True))
    account = telegram_account(organization)
    assert tg_post(1).status_code == 200
    resp = staff.post(
        f"/admin/conversations/platformaccount/{account.pk}/change/",
        {
            "organization": organization.pk,
            "platform": "telegram",
            "external_id": account.external_id,
            "name": "",
            "language": "",
        },  # "is_active" unticked
    )
    assert resp.status_code == 302, resp.content[:2000]
    assert not PlatformAccount.objects.get(pk=account.pk).is_active
    assert tg_post(2).status_code == 403


@pytest.mark.django_db
def test_a_changed_whatsapp_app_secret_is_refused_right_after(organization, platform_settings, handoff):
    account = whatsapp_account(organization)
    assert wa_post("wamid.A").status_code == 200
    services.platform_account_secrets_set(account=account, secrets={"app_secret": "new-app-secret"})
    assert wa_post("wamid.B").status_code == 401
    assert wa_post("wamid.C", secret="new-app-secret").status_code == 200
    account = PlatformAccount.objects.get(pk=account.pk)
    account.is_active = False
    account.save()
    assert wa_post("wamid.D", secret="new-app-secret").status_code == 401
    assert sorted(WebhookEvent.objects.values_list("event_id", flat=True)) == ["wamid.A", "wamid.C"]


@pytest.mark.django_db
def test_a_changed_slack_signing_secret_is_refused_right_after(organization, platform_settings, handoff):
    account = slack_account(organization)
    assert slack_post("Ev1").status_code == 200
    services.platform_account_secrets_set(account=account, secrets={"signing_secret": "new-signing"})
    assert slack_post("Ev2").status_code == 401
    assert slack_post("Ev3", secret="new-signing").status_code == 200


@pytest.mark.django_db
def test_rotating_the_encryption_key_invalidates_the_cached_blob(
    organization, platform_settings, settings, handoff
):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    whatsapp_account(organization)
    assert wa_post("wamid.A").status_code == 200  # the encrypted blob is cached
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, *settings.FIELD_ENCRYPTION_KEYS]
    call_command("rotate_keys")
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is gone: only the re-encrypted blob works
    assert wa_post("wamid.B").status_code == 200


@pytest.mark.django_db
def test_a_new_account_with_a_cached_secret_takes_over(organization, platform_settings, handoff):
    # a lookup cached for one account is not reused once another one is created / the first deleted
    first = telegram_account(organization)
    assert tg_post(1).status_code == 200
    PlatformAccount.objects.filter(pk=first.pk).delete()
    second = services.platform_account_create(
        organization=organization,
        platform="telegram",
        external_id="7000000002",
        secrets={"bot_token": "7000000002:x", "webhook_secret": TG_SECRET},
    )
    assert tg_post(2).status_code == 200
    assert WebhookEvent.objects.get(event_id="7000000002:2").account_id == second.pk


@pytest.mark.django_db
def test_the_entry_a_process_keeps_is_only_used_under_the_current_generation(
    organization, platform_settings, handoff
):
    from django.core.cache import cache

    account = telegram_account(organization)
    assert tg_post(1).status_code == 200  # read from the database: kept by the cache and this process
    key = f"conversations:platform_account:s:telegram:{secret_hash(TG_SECRET)}"
    assert selectors._local_entries[key][1][0] == account.pk
    # another process changes the account: a new generation (and no signal reaches this one)
    PlatformAccount.objects.filter(pk=account.pk).update(is_active=False)
    cache.set(selectors.ACCOUNT_CACHE_GENERATION_KEY, "set-by-another-process", timeout=None)
    assert tg_post(2).status_code == 403
    assert key not in selectors._local_entries


@pytest.mark.django_db
def test_the_entry_a_process_keeps_expires_with_the_shared_one(organization, platform_settings, handoff):
    from django.core.cache import cache

    account = telegram_account(organization)
    assert tg_post(1).status_code == 200
    key = f"conversations:platform_account:s:telegram:{secret_hash(TG_SECRET)}"
    generation, row, _expires = selectors._local_entries[key]
    # past the TTL (the shared entry is gone too); a change that bumped nothing is seen
    selectors._local_entries[key] = (generation, row, time.time() - 1)
    cache.delete(key)
    PlatformAccount.objects.filter(pk=account.pk).update(is_active=False)
    assert tg_post(2).status_code == 403


# --- storing -------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_duplicate_event_is_acknowledged_and_stored_once(
    organization, platform_settings, handoff, django_capture_on_commit_callbacks
):
    telegram_account(organization)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = tg_post(42)
    assert first.status_code == 200 and first.json() == {"ok": True, "stored": 1}
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = tg_post(42)
    assert again.status_code == 200 and again.json() == {"ok": True, "stored": 0}
    assert callbacks == []  # nothing queued for a duplicate
    event = WebhookEvent.objects.get()
    assert handoff.pending() == [event.pk]


@pytest.mark.django_db
def test_a_stored_event_is_queued_only_after_commit(
    organization, platform_settings, handoff, django_capture_on_commit_callbacks
):
    # inside a transaction (here: the test's), the task waits for the commit
    whatsapp_account(organization)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert wa_post("wamid.X").status_code == 200
    assert handoff.pending() == [] and len(callbacks) == 1
    callbacks[0]()
    assert handoff.pending() == [WebhookEvent.objects.get(event_id="wamid.X").pk]


@pytest.mark.django_db
def test_webhook_event_store_returns_the_event_and_whether_it_is_new(
    organization, platform_settings, handoff
):
    account = selectors.platform_account_find(
        platform="telegram", external_id=telegram_account(organization).external_id
    )
    event, created = services.webhook_event_store(
        platform="telegram", event_id="bot:1", event_type="message", payload={"a": [1, "é"]}, account=account
    )
    assert created and event.pk is not None and not event._state.adding
    stored = WebhookEvent.objects.get(pk=event.pk)
    assert (stored.payload, stored.status, stored.attempts, stored.error) == (
        {"a": [1, "é"]},
        "received",
        0,
        "",
    )
    assert stored.organization_id == organization.pk and stored.account_id == account.pk
    assert stored.received_at == event.received_at
    again, created_again = services.webhook_event_store(
        platform="telegram", event_id="bot:1", event_type="message", payload={"b": 2}, account=account
    )
    assert not created_again and again.pk == event.pk and again.payload == {"a": [1, "é"]}
    # the same id on another platform is another event
    _, other = services.webhook_event_store(
        platform="slack", event_id="bot:1", event_type="message", payload={}, organization=organization
    )
    assert other and WebhookEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_the_row_is_committed_before_the_task_is_queued(
    organization, platform_settings, monkeypatch, handoff
):
    # no test transaction here: the view runs as in production (autocommit, no transaction of its own)
    seen: list[tuple[bool, bool]] = []
    enqueue = services.webhook_events_enqueue

    def recording_enqueue(*, ids: list[int]) -> None:
        seen.append((connection.in_atomic_block, WebhookEvent.objects.filter(pk=ids[0]).exists()))
        enqueue(ids=ids)

    monkeypatch.setattr(services, "webhook_events_enqueue", recording_enqueue)
    telegram_account(organization)
    with CaptureQueriesContext(connection) as queries:
        resp = tg_post(7)
    assert resp.status_code == 200 and resp.json()["stored"] == 1
    assert seen == [(False, True)]  # queued from outside any transaction, the row already there
    assert handoff.pending() == [WebhookEvent.objects.get().pk]
    statements = [q["sql"].split(" ", 1)[0].upper() for q in queries.captured_queries]
    assert "SAVEPOINT" not in statements and statements.count("INSERT") == 1
    assert tg_post(7).json()["stored"] == 0 and len(seen) == 1
