"""Conversation services: webhook ingestion, the router, replies and payment notices.

Inbound: a webhook view verifies the request and calls ``webhook_event_store``
(the raw event, keyed by the platform's event id) and answers 200; a task runs
``webhook_event_process`` which turns it into ``message_receive`` or
``conversation_action``. ``message_process`` (a task, after commit) asks the
intent engine and hands the message to the flow engine. Flows speak through
``reply_send``; platform deliveries are ``OutboundMessage`` rows sent by
``outbound_message_deliver`` with retries.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from datetime import timedelta
from typing import Any

import structlog
from django.db import IntegrityError, connections, models, router, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from apps.conversations import selectors
from apps.conversations.choices import Channel, Direction, OutboundStatus, Platform, WebhookStatus
from apps.conversations.models import (
    Conversation,
    ConversationMessage,
    FlowRun,
    OutboundMessage,
    PlatformAccount,
    WebhookEvent,
)
from apps.conversations.platforms.base import InboundMessage, Reply, SendError, StatusUpdate
from apps.conversations.platforms.crypto import secret_hash, secrets_encrypt
from apps.conversations.platforms.webchat import webchat_event_data
from apps.core.cache import registered_script, shared_key, shared_redis
from apps.core.events import conversation_group, event_publish, org_group
from apps.core.exceptions import NotFound
from apps.core.models import Organization

logger = structlog.get_logger(__name__)

AGENTPAY_SENDER = "agentpay"


# --- platform accounts ---------------------------------------------------------
@transaction.atomic
def platform_account_create(
    *,
    organization: Organization,
    platform: str,
    external_id: str,
    secrets: dict[str, str],
    name: str = "",
    language: str = "",
    actor: Any = None,
) -> PlatformAccount:
    """Connect a WhatsApp number / Slack workspace / Telegram bot to an organisation.

    ``secrets``: whatsapp ``app_secret``, ``verify_token``, ``access_token``;
    slack ``signing_secret``, ``bot_token``; telegram ``bot_token``, ``webhook_secret``.
    """
    account = PlatformAccount(
        organization=organization, platform=platform, external_id=external_id, name=name, language=language
    )
    _secrets_apply(account, secrets)
    account.save()
    selectors.platform_account_cache_invalidate()  # e.g. a cached lookup of the account it replaces
    _secrets_audit("conversations.platform_account_created", account=account, names=secrets, actor=actor)
    return account


@transaction.atomic
def platform_account_secrets_set(
    *, account: PlatformAccount, secrets: dict[str, str], actor: Any = None
) -> PlatformAccount:
    locked = PlatformAccount.objects.select_for_update(of=("self",)).get(pk=account.pk)
    _secrets_apply(locked, {**locked.secrets_get(), **secrets})
    locked.save(update_fields=["secrets_encrypted", "webhook_secret_hash", "updated_at"])
    selectors.platform_account_cache_invalidate()  # the old secret is refused as soon as this commits
    _secrets_audit("conversations.platform_secrets_changed", account=locked, names=secrets, actor=actor)
    return locked


def _secrets_audit(action: str, *, account: PlatformAccount, names: dict[str, str], actor: Any) -> None:
    """Which secrets changed (never their values) goes to the hash-chained audit log."""
    from apps.compliance.services import audit_record

    audit_record(
        action=action,
        actor=actor,
        target=account,
        after={"platform": account.platform, "external_id": account.external_id, "secrets": sorted(names)},
    )


def _secrets_apply(account: PlatformAccount, secrets: dict[str, str]) -> None:
    account.secrets_encrypted = secrets_encrypt(secrets)
    hook_secret = secrets.get("webhook_secret") or secrets.get("verify_token") or ""
    account.webhook_secret_hash = secret_hash(hook_secret) if hook_secret else ""


def platform_secrets_rotate(*, rehash: bool = False) -> int:
    """Re-encrypt every account's secrets with the newest ``FIELD_ENCRYPTION_KEYS`` key
    (``rehash``: recompute the webhook secret's keyed hash after ``PII_HASH_KEY`` changed)."""
    from apps.conversations.platforms.crypto import secrets_rotate

    count = 0
    for pk in PlatformAccount.objects.exclude(secrets_encrypted="").values_list("pk", flat=True):
        with transaction.atomic():
            account = PlatformAccount.objects.select_for_update(of=("self",)).get(pk=pk)
            account.secrets_encrypted = secrets_rotate(account.secrets_encrypted)
            if rehash:
                _secrets_apply(account, account.secrets_get())
            account.save(update_fields=["secrets_encrypted", "webhook_secret_hash", "updated_at"])
            selectors.platform_account_cache_invalidate()
            count += 1
    return count


# --- webhooks -------------------------------------------------------------------
# What the store sets, besides the event's own values; a field added to WebhookEvent must be given
# here too (``_store_sql`` refuses to build an INSERT that would leave one out).
_EVENT_DEFAULTS = {"status": WebhookStatus.RECEIVED.value, "error": "", "attempts": 0, "processed_at": None}
_EVENT_VALUES = (
    "platform",
    "event_id",
    "event_type",
    "account_id",
    "organization_id",
    "payload",
    "received_at",
)


@functools.cache
def _store_sql(alias: str) -> tuple[str, tuple[Any, ...], tuple[bool, ...]]:
    """``INSERT ... ON CONFLICT (platform, event_id) DO NOTHING RETURNING id`` on database ``alias``,
    the fields it sets (every concrete field but the generated id) and which of their values need
    the field's ``get_db_prep_save`` (foreign keys, JSON, datetimes; text and integers go as they are)."""
    meta = WebhookEvent._meta
    qn = connections[alias].ops.quote_name
    fields = tuple(f for f in meta.concrete_fields if not f.primary_key)
    missing = {f.attname for f in fields} ^ {*_EVENT_DEFAULTS, *_EVENT_VALUES}
    if missing:
        raise RuntimeError(f"webhook_event_ingest does not know how to set {sorted(missing)}")
    prep = tuple(not isinstance(f, models.CharField | models.TextField | models.IntegerField) for f in fields)
    columns = ", ".join(qn(f.column) for f in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    key = ", ".join(qn(f.column) for f in fields if f.name in ("platform", "event_id"))  # the unique pair
    sql = (  # identifiers from the model's meta, quoted; every value is a parameter
        f"INSERT INTO {qn(meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {qn(meta.pk.column)}"
    )
    return sql, fields, prep


def _store_in_one_statement(connection: Any) -> bool:
    """PostgreSQL, and SQLite >= 3.35 (RETURNING); anything else takes the IntegrityError path."""
    return (
        connection.vendor in ("postgresql", "sqlite")
        and connection.features.supports_ignore_conflicts
        and connection.features.can_return_columns_from_insert
    )


def _event_insert(values: dict[str, Any]) -> int | None:
    """Insert one event row (``values`` = every field by attname); its id, or None if
    ``(platform, event_id)`` is already stored. Processing is handed off after the commit."""
    alias = router.db_for_write(WebhookEvent)
    connection = connections[alias]
    if _store_in_one_statement(connection):
        sql, fields, prep = _store_sql(alias)
        params = [
            f.get_db_prep_save(values[f.attname], connection) if p else values[f.attname]
            for f, p in zip(fields, prep, strict=True)
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:  # a duplicate: the conflicting row is committed (ON CONFLICT waited for it)
            return None
        pk = int(row[0])
    else:
        try:
            with transaction.atomic(using=alias):
                pk = WebhookEvent.objects.using(alias).create(**values).pk
        except IntegrityError:
            return None
    transaction.on_commit(lambda: webhook_events_enqueue(ids=[pk]), using=alias)
    return pk


def webhook_event_ingest(
    *,
    platform: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    account_id: Any = None,
    organization_id: Any = None,
) -> int | None:
    """Store a verified raw event (the webhook views' path): the new row's id, or None for a
    duplicate ``(platform, event_id)``, which is acknowledged and ignored.

    One statement, ``INSERT ... ON CONFLICT DO NOTHING RETURNING id``, and no model instance:
    outside a transaction the row is committed when it returns, and its id is handed to processing
    at once (``on_commit`` runs immediately in autocommit; inside a transaction, after its commit),
    so the webhook can be acknowledged as soon as this returns.
    """
    return _event_insert(_event_values(platform, event_id, event_type, payload, account_id, organization_id))


def _event_values(
    platform: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    account_id: Any,
    organization_id: Any,
) -> dict[str, Any]:
    return {
        "platform": platform,
        "event_id": event_id[:255],
        "event_type": event_type[:64],
        "account_id": account_id,
        "organization_id": organization_id,
        "payload": payload,
        "received_at": timezone.now(),
        **_EVENT_DEFAULTS,
    }


def webhook_event_store(
    *,
    platform: str,
    event_id: str,
    event_type: str,
    payload: dict[str, Any],
    account: PlatformAccount | None = None,
    organization: Organization | None = None,
) -> tuple[WebhookEvent, bool]:
    """``webhook_event_ingest`` for callers that want the row: ``(event, True)`` when stored now,
    ``(existing, False)`` for a duplicate."""
    org_id = organization.pk if organization else (account.organization_id if account else None)
    values = _event_values(platform, event_id, event_type, payload, account.pk if account else None, org_id)
    pk = _event_insert(values)
    if pk is None:
        return WebhookEvent.objects.get(platform=platform, event_id=values["event_id"]), False
    event = WebhookEvent(pk=pk, **values)
    event._state.adding = False
    event._state.db = router.db_for_write(WebhookEvent)
    return event, True


# --- webhook hand-off: a Redis list of stored event ids, drained in batches by a task -----------
# A Celery publish per webhook cost about as much CPU as the rest of the request (kombu builds a
# message, headers and a redis-py client per publish). The stored row is what counts; this list
# only says "look at these soon". One pipelined round trip per webhook pushes its id and sets a
# flag; a drain task is sent only when the flag was not already set, i.e. once per burst, not per
# event. The drain pops a batch, processes each event (idempotent), and when it popped a full batch
# sends one more drain first so other workers share a backlog. Losing an id (Redis down at push
# time, a worker killed after its pop) loses nothing: the row stays ``received`` and the beat sweep
# ``webhook_events_retry_stale`` queues it again.
WEBHOOK_QUEUE_KEY = "conversations:webhook_events:pending"
WEBHOOK_DRAIN_FLAG_KEY = "conversations:webhook_events:drain"
# a drain task queued or running; if it is lost, the flag expires and the next event sends another
WEBHOOK_DRAIN_FLAG_TTL = 30
WEBHOOK_DRAIN_BATCH = 100


def _queue_client() -> Any:
    """The cache's redis-py client when the cache is Redis; None otherwise (local memory: one task
    per event instead)."""
    return shared_redis()


def _queue_key(name: str) -> str:
    return shared_key(name)


def webhook_events_enqueue(*, ids: list[int]) -> None:
    """Hand stored events to processing (after their commit). Never raises: a failure is logged
    and the rows wait for the sweep."""
    if not ids:
        return
    client = _queue_client()
    if client is None:
        for pk in ids:
            _task_send("webhook_event_process_task", pk)
        return
    from redis.exceptions import RedisError

    flag = _queue_key(WEBHOOK_DRAIN_FLAG_KEY)
    try:
        kick = _push_script(client)(
            keys=[_queue_key(WEBHOOK_QUEUE_KEY), flag], args=[WEBHOOK_DRAIN_FLAG_TTL, *ids]
        )
    except RedisError:  # the rows are stored; the periodic sweep queues them
        logger.exception("webhook_events_enqueue_failed", ids=ids)
        return
    if kick:
        _drain_send(client, flag)


# RPUSH the ids and SET the drain flag NX in one command: a redis-py pipeline of the two cost
# about 40 % more CPU in the web process than this one EVALSHA (benchmarks/webhooks).
_PUSH_LUA = """
redis.call('RPUSH', KEYS[1], unpack(ARGV, 2))
return redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[1])
"""


def _push_script(client: Any) -> Any:
    return registered_script(client, _PUSH_LUA)


def _drain_send(client: Any, flag: str) -> None:
    if not _task_send("webhook_events_drain_task"):
        # no drain is coming: let the next event try again instead of waiting for the flag's expiry
        with contextlib.suppress(Exception):
            client.delete(flag)


def webhook_events_drain(*, batch: int = WEBHOOK_DRAIN_BATCH) -> int:
    """Process up to ``batch`` queued events (the drain task). Returns how many were processed."""
    client = _queue_client()
    if client is None:
        return 0
    queue, flag = _queue_key(WEBHOOK_QUEUE_KEY), _queue_key(WEBHOOK_DRAIN_FLAG_KEY)
    ids = [int(x) for x in client.lpop(queue, batch) or ()]
    if len(ids) >= batch:
        _task_send("webhook_events_drain_task")  # more may be waiting: another worker takes them
    done = 0
    for pk in ids:
        try:
            webhook_event_process(webhook_event_id=pk)
        except WebhookEvent.DoesNotExist:
            continue
        except Exception:  # the row stays "received": the sweep queues it again
            logger.exception("webhook_event_process_failed", webhook_event_id=pk)
            continue
        done += 1
    if len(ids) < batch:
        # The queue looked empty. Release the flag, then look again: an id pushed after the pop
        # but before the release saw the flag set and sent no drain.
        pipe = client.pipeline(transaction=False)
        pipe.delete(flag)
        pipe.llen(queue)
        _, left = pipe.execute()
        if left and client.set(flag, "1", nx=True, ex=WEBHOOK_DRAIN_FLAG_TTL):
            _drain_send(client, flag)
    return done


def _task_send(name: str, *args: Any, **options: Any) -> bool:
    """Send a task; False (logged) when the broker is unreachable."""
    from apps.conversations import tasks

    try:
        getattr(tasks, name).apply_async(args=tuple(args), **options)
    except (KombuOperationalError, ConnectionError):  # the row is stored; the periodic sweep re-queues it
        logger.exception("conversations_task_enqueue_failed", task=name)
        return False
    return True


def _parse(event: WebhookEvent) -> InboundMessage | StatusUpdate | None:
    if event.platform == Platform.WHATSAPP:
        from apps.conversations.platforms.whatsapp.webhooks import item_parse

        return item_parse(event.payload)
    if event.platform == Platform.SLACK:
        from apps.conversations.platforms.slack.webhooks import payload_parse

        return payload_parse(event.payload)
    if event.platform == Platform.TELEGRAM:
        from apps.conversations.platforms.telegram.webhooks import update_parse

        return update_parse(event.payload)
    return None


WEBHOOK_MAX_ATTEMPTS = 5  # the sweep re-queues a failing event this many times, then it is marked failed


def webhook_event_process(*, webhook_event_id: int) -> WebhookEvent:
    """Turn a stored event into a message, a click or a delivery status (idempotent).

    When processing raises, its transaction rolls back, so the attempt and the error are
    recorded afterwards on their own; after ``WEBHOOK_MAX_ATTEMPTS`` the event is ``failed``
    (kept, visible in the admin) instead of being retried by the sweep forever."""
    try:
        return _webhook_event_process(webhook_event_id)
    except WebhookEvent.DoesNotExist:
        raise
    except Exception as exc:
        WebhookEvent.objects.filter(pk=webhook_event_id, status=WebhookStatus.RECEIVED).update(
            attempts=F("attempts") + 1,
            error=f"{type(exc).__name__}: {exc}"[:2000],
            status=Case(
                When(attempts__gte=WEBHOOK_MAX_ATTEMPTS - 1, then=Value(WebhookStatus.FAILED.value)),
                default=Value(WebhookStatus.RECEIVED.value),
            ),
        )
        raise


def _webhook_event_process(webhook_event_id: int) -> WebhookEvent:
    with transaction.atomic():
        event = (
            WebhookEvent.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=webhook_event_id)
        )
        if event.status in (WebhookStatus.PROCESSED, WebhookStatus.SKIPPED):
            return event
        event.attempts += 1
        status: str = WebhookStatus.SKIPPED
        parsed = _parse(event)
        if isinstance(parsed, StatusUpdate):
            outbound_status_update(
                provider_message_id=parsed.provider_message_id, status=parsed.status, error=parsed.error
            )
            status = WebhookStatus.PROCESSED
        elif isinstance(parsed, InboundMessage) and event.organization is not None:
            status = _inbound_handle(event.organization, parsed)
        event.status = status
        event.processed_at = timezone.now()
        event.save(update_fields=["status", "processed_at", "attempts"])
    return event


def _inbound_handle(organization: Organization, msg: InboundMessage) -> str:
    if msg.action_token:
        conversation = conversation_upsert(
            organization=organization,
            platform=msg.platform,
            external_conversation_id=msg.conversation_external_id,
            participants=[{"id": msg.sender_id, "name": msg.sender_name}],
        )
        conversation_action(
            conversation=conversation,
            sender_id=msg.sender_id,
            sender_name=msg.sender_name,
            action="",
            payload={"token": msg.action_token},
        )
        if msg.callback_id:
            transaction.on_commit(
                lambda: _task_send("telegram_callback_answer_task", organization.pk, msg.callback_id)
            )
        return WebhookStatus.PROCESSED
    if not msg.processable:
        return WebhookStatus.SKIPPED
    message_receive(
        organization=organization,
        platform=msg.platform,
        external_conversation_id=msg.conversation_external_id,
        sender_id=msg.sender_id,
        sender_name=msg.sender_name,
        text=msg.text,
        platform_message_id=msg.platform_message_id,
        raw=msg.raw,
        participants=msg.participants,
        title=msg.title if msg.platform == Platform.TELEGRAM else "",
    )
    return WebhookStatus.PROCESSED


# --- router ---------------------------------------------------------------------
def conversation_upsert(
    *,
    organization: Organization,
    platform: str,
    external_conversation_id: str,
    participants: list[dict[str, str]] | None = None,
    title: str = "",
) -> Conversation:
    """The conversation for ``(platform, external id)``, created on first contact; merges participants."""
    conversation, created = Conversation.objects.get_or_create(
        organization=organization,
        platform=platform,
        external_conversation_id=external_conversation_id,
        defaults={"participants": [p for p in participants or [] if p.get("id")], "title": title[:255]},
    )
    if not created and participants:
        known = {str(p.get("id")): p for p in conversation.participants or []}
        changed = False
        for p in participants:
            pid = str(p.get("id") or "")
            if not pid:
                continue
            if pid not in known:
                conversation.participants = [
                    *conversation.participants,
                    {"id": pid, "name": p.get("name", "")},
                ]
                changed = True
            elif p.get("name") and not known[pid].get("name"):
                known[pid]["name"] = p["name"]
                changed = True
        if changed:
            Conversation.objects.filter(pk=conversation.pk).update(participants=conversation.participants)
    return conversation


def agent_conversation_upsert(
    *, organization: Organization, caller_ref: str, caller_name: str = "", session_id: str = ""
) -> Conversation:
    """The ``agent`` conversation of one caller (``apikey:<prefix>`` / ``user:<pk>``) and its own
    conversation or session id, created on first use; without a session id, the caller's own."""
    external_id = f"{caller_ref}:{session_id}" if session_id else caller_ref
    return conversation_upsert(
        organization=organization,
        platform=Platform.AGENT,
        external_conversation_id=external_id,
        participants=[{"id": caller_ref, "name": caller_name}],
        title=(f"{caller_name} · {session_id}" if session_id else caller_name)[:255],
    )


@transaction.atomic
def message_receive(
    *,
    organization: Organization,
    platform: str,
    external_conversation_id: str,
    sender_id: str,
    sender_name: str = "",
    text: str,
    platform_message_id: str = "",
    raw: dict[str, Any] | None = None,
    participants: list[dict[str, str]] | None = None,
    language: str | None = None,
    title: str = "",
) -> ConversationMessage:
    """Store an inbound message (idempotent on ``platform_message_id``) and queue its processing.

    The entry point for every platform's messages: webhooks and the web chat (AI agents store
    theirs with ``inbound_message_store`` and analyse them at once, see ``agents/services.py``).
    """
    people = list(participants or [])
    if sender_id and all(str(p.get("id")) != sender_id for p in people):
        people.append({"id": sender_id, "name": sender_name})
    conversation = conversation_upsert(
        organization=organization,
        platform=platform,
        external_conversation_id=external_conversation_id,
        participants=people,
        title=title,
    )
    if platform_message_id:
        existing = ConversationMessage.objects.filter(
            conversation=conversation, direction=Direction.INBOUND, platform_message_id=platform_message_id
        ).first()
        if existing is not None:
            return existing
    message = inbound_message_store(
        conversation=conversation,
        sender_id=sender_id,
        sender_name=sender_name,
        text=text,
        platform_message_id=platform_message_id,
        raw=raw,
        language=language or "",
    )
    message_id = str(message.pk)
    transaction.on_commit(lambda: _task_send("message_process_task", message_id))
    return message


@transaction.atomic
def inbound_message_store(
    *,
    conversation: Conversation,
    sender_id: str,
    sender_name: str = "",
    text: str,
    platform_message_id: str = "",
    raw: dict[str, Any] | None = None,
    language: str = "",
    detected_intent: str = "",
) -> ConversationMessage:
    """Store one inbound message, bump the conversation's ``last_message_at`` and broadcast
    ``message_received`` (after commit). Processing is the caller's business."""
    message = ConversationMessage.objects.create(
        conversation=conversation,
        direction=Direction.INBOUND,
        platform_message_id=platform_message_id,
        sender_id=sender_id,
        sender_name=sender_name,
        message_text=text,
        language=language,
        detected_intent=detected_intent,
        raw=raw or {},
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=timezone.now())
    event_publish(
        event_type="message_received",
        data={
            "message_id": message.pk,
            "conversation_id": conversation.pk,
            "platform": conversation.platform,
            "sender_id": sender_id,
            "sender_name": sender_name,
            "text": text,
            "created_at": message.created_at,
        },
        groups=[org_group(conversation.organization_id), conversation_group(conversation.pk)],
    )
    return message


def _intent_analyze(
    message: ConversationMessage, conversation: Conversation, *, use_context: bool = True
) -> tuple[Any, dict | None]:
    """Contract 1: ``message_analyze`` with the conversation's context, then ``context_update``
    (``use_context=False``: the message alone, in its own language; no context is kept)."""
    from importlib import import_module

    try:
        intent_services = import_module("apps.intent.services")
    except ImportError:
        return None, None
    analyze = getattr(intent_services, "message_analyze", None)
    if analyze is None:
        logger.warning("intent_engine_unavailable")
        return None, None
    now = message.created_at or timezone.now()
    result = analyze(
        message.message_text,
        language=message.language or (conversation.language if use_context else "") or None,
        context=(conversation.context or None) if use_context else None,
        now=now,
        organization_currency=conversation.organization.default_currency,
    )
    update = getattr(intent_services, "context_update", None)
    context = update(dict(conversation.context or {}), result, now=now) if update and use_context else None
    return result, context


def message_process(
    *, message_id: Any, dispatch: bool = True, use_context: bool = True
) -> ConversationMessage:
    """Analyse a stored inbound message and run the flow engine on it (idempotent).

    ``dispatch=False`` only records what was understood (an agent's ``analyze_message``:
    the agent decides what to do); ``use_context=False`` analyses the message on its own.
    """
    from apps.conversations.flows.engine import message_dispatch

    message = ConversationMessage.objects.select_related("conversation__organization").get(pk=message_id)
    if message.detected_intent:
        return message
    started = time.perf_counter()
    intent, context = _intent_analyze(message, message.conversation, use_context=use_context)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=message.conversation_id)
        )
        message = ConversationMessage.objects.select_for_update(of=("self",)).get(pk=message_id)
        if message.detected_intent:
            return message
        message.detected_intent = str(getattr(intent, "intent", "none") or "none")
        message.confidence_score = float(getattr(intent, "confidence", 0.0) or 0.0) if intent else None
        message.intent_tier = str(getattr(intent, "tier", "") or "")
        message.extracted_entities = intent.to_dict() if intent is not None else {}
        elapsed = getattr(intent, "processing_time_ms", None)
        message.processing_time_ms = int(
            elapsed if elapsed is not None else (time.perf_counter() - started) * 1000
        )
        lang = str(getattr(intent, "language", "") or "")
        if lang in ("en", "pt", "es"):
            message.language = lang
            if not conversation.language:
                conversation.language = lang
        message.save(
            update_fields=[
                "detected_intent",
                "confidence_score",
                "intent_tier",
                "extracted_entities",
                "processing_time_ms",
                "language",
            ]
        )
        if context is not None:
            conversation.context = context
        conversation.save(update_fields=["context", "language"])
        event_publish(
            event_type="intent_detected",
            data={
                "message_id": message.pk,
                "conversation_id": conversation.pk,
                "intent": message.detected_intent,
                "confidence": message.confidence_score,
                "tier": message.intent_tier,
                "entities": message.extracted_entities,
            },
            groups=[org_group(conversation.organization_id), conversation_group(conversation.pk)],
        )
        if dispatch:
            message_dispatch(conversation=conversation, message=message, intent=intent)
    return message


@transaction.atomic
def conversation_action(
    *, conversation: Conversation, sender_id: str, action: str, payload: dict[str, Any], sender_name: str = ""
) -> FlowRun | None:
    """A button click or list choice: ``payload`` is ``{"token": "<action>:<run>:<value>"}`` (as
    issued on the button) or ``{"run_id": ..., "value": ...}`` with ``action`` one of
    confirm/cancel/choose/accept/settle/recurring_yes/recurring_no. Without a run id it
    acts on the conversation's active flow."""
    from apps.conversations.flows.engine import action_dispatch

    locked = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=conversation.pk)
    )
    ConversationMessage.objects.create(
        conversation=locked,
        direction=Direction.INBOUND,
        sender_id=sender_id,
        sender_name=sender_name,
        message_text=f"[{action or payload.get('token', '')}]",
        detected_intent="action",
        raw={"action": action, "payload": payload},
    )
    Conversation.objects.filter(pk=locked.pk).update(last_message_at=timezone.now())
    return action_dispatch(
        conversation=locked, sender_id=sender_id, sender_name=sender_name, action=action, payload=payload
    )


# --- replies --------------------------------------------------------------------
EXTERNAL_CHANNELS = {Channel.WHATSAPP, Channel.SLACK, Channel.TELEGRAM}
_CREDENTIAL_NEEDED = {"whatsapp": "access_token", "slack": "bot_token", "telegram": "bot_token"}


def reply_channel(conversation: Conversation) -> str:
    """The platform itself when its credentials are configured, else the local outbox."""
    platform = conversation.platform
    if platform in (Platform.WEBCHAT, Platform.AGENT):
        return Channel.WEBCHAT
    creds = selectors.platform_credentials(
        platform=platform, account=selectors.conversation_account(conversation)
    )
    return platform if creds.get(_CREDENTIAL_NEEDED[platform]) else Channel.LOCAL


@transaction.atomic
def reply_send(
    *,
    conversation: Conversation,
    reply: Reply,
    flow_run: FlowRun | None = None,
    replaces: Any = None,
) -> OutboundMessage:
    """Record a reply, broadcast it to the conversation's stream and (after commit) deliver it.

    ``replaces`` (an OutboundMessage or its id) asks platforms that can to update that
    message in place (Slack ``chat.update``, Telegram ``editMessageText``, web chat).
    """
    outbound, _ = _reply_record(conversation=conversation, reply=reply, flow_run=flow_run, replaces=replaces)
    return outbound


@transaction.atomic
def conversation_message_send(*, conversation: Conversation, text: str, actor: Any) -> ConversationMessage:
    """A message a person or an integration writes to the conversation (``POST …/messages``): sent
    through the platform like AgentPay's own replies (or to the local outbox), after commit.

    Returns the stored outbound message; who wrote it is kept as ``raw["sent_by"]``.
    """
    from apps.core.authentication import ApiKeyPrincipal

    sent_by = str(actor.pk) if isinstance(actor, ApiKeyPrincipal) else f"user:{getattr(actor, 'pk', '')}"
    _, message = _reply_record(
        conversation=conversation, reply=Reply(text=text, metadata={"sent_by": sent_by}), sent_by=sent_by
    )
    Conversation.objects.filter(pk=conversation.pk).update(last_message_at=timezone.now())
    return message


def _reply_record(
    *,
    conversation: Conversation,
    reply: Reply,
    flow_run: FlowRun | None = None,
    replaces: Any = None,
    sent_by: str = "",
) -> tuple[OutboundMessage, ConversationMessage]:
    channel = reply_channel(conversation)
    replaces_id = getattr(replaces, "pk", replaces) or None
    done = channel not in EXTERNAL_CHANNELS
    outbound = OutboundMessage.objects.create(
        conversation=conversation,
        flow_run=flow_run,
        replaces_id=replaces_id,
        channel=channel,
        recipient=conversation.external_conversation_id,
        reply=reply.to_dict(),
        text=reply.text,
        status=OutboundStatus.SENT if done else OutboundStatus.QUEUED,
        sent_at=timezone.now() if done else None,
    )
    message = ConversationMessage.objects.create(
        conversation=conversation,
        direction=Direction.OUTBOUND,
        sender_id=AGENTPAY_SENDER,
        sender_name="AgentPay",
        message_text=reply.text,
        raw={
            "outbound_id": str(outbound.pk),
            "reply": reply.to_dict(),
            **({"sent_by": sent_by} if sent_by else {}),
        },
    )
    groups = [conversation_group(conversation.pk), org_group(conversation.organization_id)]
    event_publish(
        event_type="reply",
        data=webchat_event_data(
            message_id=str(outbound.pk),
            conversation_id=str(conversation.pk),
            reply=reply,
            replaces=str(replaces_id) if replaces_id else None,
        ),
        groups=groups,
    )
    if reply.metadata.get("card") == "confirmation" and flow_run is not None:
        event_publish(
            event_type="confirmation_requested",
            data={
                "conversation_id": conversation.pk,
                "flow_run_id": flow_run.pk,
                "kind": flow_run.kind,
                "expires_at": flow_run.expires_at,
                "text": reply.text,
            },
            groups=groups,
        )
    if not done:
        outbound_id = str(outbound.pk)
        transaction.on_commit(lambda: _task_send("outbound_deliver_task", outbound_id))
    return outbound, message


def _platform_send(outbound: OutboundMessage, reply: Reply, creds: dict[str, str]) -> str:
    """Send through the platform API; returns the provider's message id."""
    from apps.conversations import conf

    replaced = outbound.replaces.provider_message_id if outbound.replaces_id and outbound.replaces else ""
    if outbound.channel == Channel.WHATSAPP:
        from apps.conversations.platforms.whatsapp.client import WhatsAppClient
        from apps.conversations.platforms.whatsapp.render import whatsapp_messages

        wa = WhatsAppClient(
            access_token=creds["access_token"],
            phone_number_id=creds["phone_number_id"],
            base_url=conf.whatsapp_api_base(),
        )
        try:
            ids = [wa.message_send(m) for m in whatsapp_messages(reply, to=outbound.recipient)]
        finally:
            wa.close()
        return ids[0] if ids else ""
    if outbound.channel == Channel.SLACK:
        from apps.conversations.platforms.slack.client import SlackClient
        from apps.conversations.platforms.slack.render import qr_public_url, slack_blocks, slack_text

        slack = SlackClient(bot_token=creds["bot_token"], base_url=conf.slack_api_base())
        blocks = slack_blocks(reply, qr_url=qr_public_url(str(outbound.pk)) if reply.qr else "")
        return slack.post(
            channel=outbound.recipient, text=slack_text(reply), blocks=blocks, update_ts=replaced
        )
    if outbound.channel == Channel.TELEGRAM:
        from apps.conversations.platforms.telegram.client import TelegramClient
        from apps.conversations.platforms.telegram.render import telegram_calls

        tg = TelegramClient(bot_token=creds["bot_token"], base_url=conf.telegram_api_base())
        try:
            results = [
                tg.call(m, p)
                for m, p in telegram_calls(reply, chat_id=outbound.recipient, edit_message_id=replaced)
            ]
        finally:
            tg.close()
        return str(results[0].get("message_id", "")) if results else ""
    raise SendError(f"no sender for channel {outbound.channel}", transient=False)


def outbound_message_deliver(*, outbound_id: Any) -> OutboundMessage:
    """Deliver one queued reply. Raises ``SendError`` (transient → the task retries with backoff)."""
    with transaction.atomic():
        outbound = (
            OutboundMessage.objects.select_for_update(of=("self",))
            .select_related("conversation", "replaces")
            .get(pk=outbound_id)
        )
        if outbound.status != OutboundStatus.QUEUED:
            return outbound
        outbound.attempts += 1
        outbound.save(update_fields=["attempts"])
    conversation = outbound.conversation
    creds = selectors.platform_credentials(
        platform=conversation.platform, account=selectors.conversation_account(conversation)
    )
    try:
        provider_id = _platform_send(outbound, Reply.from_dict(outbound.reply), creds)
    except SendError as exc:
        outbound.error = str(exc)[:2000]
        fields = ["error"]
        if not exc.transient:
            outbound.status = OutboundStatus.FAILED
            fields.append("status")
        outbound.save(update_fields=fields)
        logger.warning(
            "outbound_send_failed", outbound_id=str(outbound.pk), transient=exc.transient, error=str(exc)
        )
        raise
    outbound.status = OutboundStatus.SENT
    outbound.provider_message_id = provider_id
    outbound.sent_at = timezone.now()
    outbound.error = ""
    outbound.save(update_fields=["status", "provider_message_id", "sent_at", "error"])
    return outbound


def outbound_message_retry(*, outbound_id: Any) -> OutboundMessage:
    """Staff asked to send a failed (or stuck queued) reply again: requeue it and deliver now."""
    OutboundMessage.objects.filter(pk=outbound_id, status=OutboundStatus.FAILED).update(
        status=OutboundStatus.QUEUED, error=""
    )
    return outbound_message_deliver(outbound_id=outbound_id)


def outbound_message_fail(*, outbound_id: Any, error: str) -> None:
    """Give up on a reply after the last retry."""
    OutboundMessage.objects.filter(pk=outbound_id, status=OutboundStatus.QUEUED).update(
        status=OutboundStatus.FAILED, error=error[:2000]
    )


_STATUS_RANK: dict[str, int] = {
    OutboundStatus.QUEUED: 0,
    OutboundStatus.SENT: 1,
    OutboundStatus.DELIVERED: 2,
    OutboundStatus.READ: 3,
}


@transaction.atomic
def outbound_status_update(
    *, provider_message_id: str, status: str, error: str = ""
) -> OutboundMessage | None:
    """A delivery status from the platform (WhatsApp ``statuses``); never moves backwards."""
    outbound = (
        OutboundMessage.objects.select_for_update(of=("self",))
        .filter(provider_message_id=provider_message_id)
        .first()
    )
    if outbound is None or status not in (*_STATUS_RANK, OutboundStatus.FAILED):
        return outbound
    if status == OutboundStatus.FAILED:
        outbound.status, outbound.error = OutboundStatus.FAILED, error[:2000]
    elif outbound.status != OutboundStatus.FAILED and _STATUS_RANK[status] > _STATUS_RANK.get(
        outbound.status, 0
    ):
        outbound.status = status
        if status in (OutboundStatus.DELIVERED, OutboundStatus.READ) and outbound.delivered_at is None:
            outbound.delivered_at = timezone.now()
    outbound.save(update_fields=["status", "error", "delivered_at"])
    return outbound


def telegram_callback_answer(*, organization_id: Any, callback_id: str) -> None:
    """Stop the button's spinner (best effort)."""
    from apps.conversations import conf
    from apps.conversations.platforms.telegram.client import TelegramClient

    account = PlatformAccount.objects.filter(
        organization_id=organization_id, platform=Platform.TELEGRAM, is_active=True
    ).first()
    creds = selectors.platform_credentials(platform=Platform.TELEGRAM, account=account)
    if not creds.get("bot_token"):
        return
    tg = TelegramClient(bot_token=creds["bot_token"], base_url=conf.telegram_api_base())
    try:
        tg.call("answerCallbackQuery", {"callback_query_id": callback_id})
    except SendError:
        logger.info("telegram_callback_answer_failed", callback_id=callback_id)
    finally:
        tg.close()


# --- timeouts -------------------------------------------------------------------
@transaction.atomic
def flow_timeout(*, flow_run_id: Any, version: int | None = None) -> bool:
    """Fire a run's timeout (confirmation expiry, idle expiry, recurring occurrence) if still due."""
    from apps.conversations.flows.engine import timeout_dispatch

    conversation_id = FlowRun.objects.filter(pk=flow_run_id).values_list("conversation_id", flat=True).first()
    if conversation_id is None:
        return False
    conversation = (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("organization")
        .get(pk=conversation_id)
    )
    return timeout_dispatch(conversation=conversation, run_id=flow_run_id, version=version)


def flow_timeouts_sweep() -> int:
    """Fire every due timeout (backs up the countdown tasks; run by beat)."""
    fired = 0
    for run_id, version in selectors.flow_runs_due(now=timezone.now()):
        try:
            fired += int(flow_timeout(flow_run_id=run_id, version=version))
        except Exception:
            logger.exception("flow_timeout_failed", flow_run_id=str(run_id))
    return fired


def webhook_events_retry_stale(*, older_than_seconds: int = 60) -> int:
    """Re-queue events whose processing task never ran (e.g. the broker was down at ack time)."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(
        WebhookEvent.objects.filter(
            status=WebhookStatus.RECEIVED, received_at__lt=cutoff, attempts__lt=WEBHOOK_MAX_ATTEMPTS
        )
        .order_by("received_at")
        .values_list("pk", flat=True)[:500]
    )
    webhook_events_enqueue(ids=ids)
    return len(ids)


# --- payments (contract 4) ------------------------------------------------------
def conversation_payment_notify(*, payment_id: Any, event: str, detail: str = "") -> None:
    """Tell the payment's conversation about a payment event (once per event and status).

    Called by payments after commit for payment_initiated (with the PIX QR code),
    payment_completed ("payment received"), payment_failed, payment_fallback,
    payment_on_hold and payment_blocked (compliance blocked it: a reviewer rejected it or
    the screening did); compliance for compliance_info_requested (``detail``: the reviewer's
    question); flows that created the payment update their state.
    """
    from apps.conversations.flows.engine import conversation_language, payment_dispatch
    from apps.conversations.flows.payment import payment_event_reply
    from apps.payments.models import OrchestrationPayment

    payment = OrchestrationPayment.objects.filter(pk=payment_id).first()
    if payment is None:
        raise NotFound(f"Payment {payment_id} not found.", code="payment_not_found")
    if payment.conversation_id is None:
        return
    if event == "payment_failed" and payment.status == "blocked":
        # a compliance block announced as a failure (payments before payment_blocked existed):
        # the payer hears "blocked", and only once if both events arrive
        event = "payment_blocked"
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("organization")
            .get(pk=payment.conversation_id)
        )
        key = f"{event}:{payment.status}:{payment.selected_rail}"
        if detail:  # e.g. each reviewer question is its own message
            key += ":" + hashlib.sha256(detail.encode()).hexdigest()[:16]
        if OutboundMessage.objects.filter(
            conversation=conversation, reply__metadata__payment_id=str(payment.pk), reply__metadata__key=key
        ).exists():
            return
        reply = payment_event_reply(
            payment=payment, event=event, language=conversation_language(conversation), detail=detail
        )
        if reply is not None:
            reply = Reply(**{**reply.__dict__, "metadata": {**reply.metadata, "key": key}})
            run = FlowRun.objects.filter(conversation=conversation, payments=payment).first()
            reply_send(conversation=conversation, reply=reply, flow_run=run)
        payment_dispatch(conversation=conversation, payment=payment, event=event)
