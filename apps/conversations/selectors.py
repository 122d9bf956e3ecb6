"""Reads of the conversations app: accounts and credentials, conversations, outbox."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog
from django.core.cache import cache, caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import router, transaction
from django.db.models import Case, CharField, Exists, OuterRef, Prefetch, QuerySet, Value, When
from django.utils import timezone

from apps.conversations import conf
from apps.conversations.choices import ConversationStatus
from apps.conversations.models import (
    Conversation,
    ConversationMessage,
    FlowRun,
    OutboundMessage,
    PlatformAccount,
)
from apps.conversations.platforms.crypto import secret_hash
from apps.core.models import Organization

logger = structlog.get_logger(__name__)

# --- platform accounts of webhook verification (cached) --------------------------
# Every webhook looks its account up (Telegram by the keyed hash of its secret header, WhatsApp and
# Slack by the external id in the payload). The rows change rarely, so the lookups are cached in
# Django's cache (Redis in production: shared by every process) for ACCOUNT_CACHE_TTL seconds.
#
# Invalidation is by generation: every entry carries the generation token that was current *before*
# its database read, and is only used while that token is still the current one. Any change of any
# account (services, post_save/post_delete, admin edits: see signals.py) sets a new token, at once
# and again after the commit, which drops every cached lookup in every process; a reader that read
# the old row just before the commit tagged it with a token that is no longer current. One MGET
# reads the token and the entry together. Only successful lookups are cached (a wrong secret or an
# unknown id always asks the database, as before), and only what verification needs: the ids,
# platform, external id, is_active and, for the external-id lookup, the *encrypted* secrets blob.
# A process-local cache (LocMemCache: no REDIS_URL) cannot be invalidated from another process, so
# the lookups are only cached in a shared cache; None = decide from the backend (tests force True).
ACCOUNT_CACHE_TTL = 60
ACCOUNT_CACHE_GENERATION_KEY = "conversations:platform_account:generation"
ACCOUNT_CACHE_ENABLED: bool | None = None


def _in_model_order(*names: str) -> tuple[str, ...]:
    """``names`` in the order of the model's concrete fields (what ``Model.from_db`` expects)."""
    return tuple(f.attname for f in PlatformAccount._meta.concrete_fields if f.attname in names)


_BY_SECRET_FIELDS = _in_model_order("id", "organization_id", "platform", "external_id", "is_active")
_BY_EXTERNAL_ID_FIELDS = _in_model_order(*_BY_SECRET_FIELDS, "secrets_encrypted")


def _account_cache_enabled() -> bool:
    if ACCOUNT_CACHE_ENABLED is not None:
        return ACCOUNT_CACHE_ENABLED
    return not isinstance(caches["default"], LocMemCache | DummyCache)


def _account_from_row(fields: tuple[str, ...], row: tuple[Any, ...]) -> PlatformAccount:
    """An account instance with only ``fields`` loaded (the others are deferred: reading one loads
    it, and ``save()`` writes back only the loaded fields, like a ``.only()`` queryset's rows)."""
    return PlatformAccount.from_db(router.db_for_read(PlatformAccount), list(fields), list(row))


def _account_generation() -> Any:
    """The current generation token, created when the cache has none (first use, eviction)."""
    cache.add(ACCOUNT_CACHE_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    return cache.get(ACCOUNT_CACHE_GENERATION_KEY)


# Each process also keeps the entries it used (same generation and expiry: an entry carries the
# wall-clock time it expires), so a repeated lookup asks the shared cache for the generation token
# alone: a GET of one short value instead of an MGET and unpickling the entry. Bounded: emptied
# when it holds ACCOUNT_LOCAL_MAX entries.
ACCOUNT_LOCAL_MAX = 1024
_local_entries: dict[str, tuple[Any, tuple[Any, ...], float]] = {}


def _account_cached(
    key: str, fields: tuple[str, ...], query: Callable[[], tuple[Any, ...] | None]
) -> PlatformAccount | None:
    if not _account_cache_enabled():
        row = query()
        return _account_from_row(fields, row) if row is not None else None
    try:
        local = _local_entries.get(key)
        if local is not None and local[2] > time.time():
            if cache.get(ACCOUNT_CACHE_GENERATION_KEY) == local[0]:
                return _account_from_row(fields, local[1])
            _local_entries.pop(key, None)
        found = cache.get_many([ACCOUNT_CACHE_GENERATION_KEY, key])
        generation = found.get(ACCOUNT_CACHE_GENERATION_KEY)
        entry = found.get(key)
        if generation is not None and isinstance(entry, tuple) and len(entry) == 3 and entry[0] == generation:
            _local_remember(key, entry)
            return _account_from_row(fields, entry[1])
        if generation is None:
            generation = _account_generation()
    except Exception:  # the cache is down: the database answers (the cache is never the authority)
        logger.warning("platform_account_cache_unavailable", exc_info=True)
        generation = None
    row = query()  # read after the generation: a change committed meanwhile has a newer token
    if row is None:
        return None
    if generation is not None:
        entry = (generation, row, time.time() + ACCOUNT_CACHE_TTL)
        try:
            cache.set(key, entry, ACCOUNT_CACHE_TTL)
        except Exception:
            logger.warning("platform_account_cache_unavailable", exc_info=True)
        else:
            _local_remember(key, entry)
    return _account_from_row(fields, row)


def _local_remember(key: str, entry: tuple[Any, tuple[Any, ...], float]) -> None:
    if len(_local_entries) >= ACCOUNT_LOCAL_MAX:
        _local_entries.clear()
    _local_entries[key] = entry


def _account_cache_bump() -> None:
    try:
        cache.set(ACCOUNT_CACHE_GENERATION_KEY, uuid.uuid4().hex, timeout=None)
    except Exception:  # entries written before the change expire within ACCOUNT_CACHE_TTL
        logger.exception("platform_account_cache_invalidation_failed")


def platform_account_cache_invalidate() -> None:
    """Drop every cached account lookup (all processes): now, and again when the current
    transaction commits, so a lookup that read the old row meanwhile is not reused either."""
    _account_cache_bump()
    connection = transaction.get_connection(router.db_for_write(PlatformAccount))
    if connection.in_atomic_block:
        transaction.on_commit(_account_cache_bump, using=connection.alias)


def platform_account_find(*, platform: str, external_id: str) -> PlatformAccount | None:
    """The active account of a WhatsApp ``phone_number_id`` / Slack ``team_id`` / Telegram bot id,
    with only what webhook verification needs loaded (cached, see above)."""
    if not external_id:
        return None
    digest = hashlib.sha256(external_id.encode()).hexdigest()

    def query() -> tuple[Any, ...] | None:
        return (
            PlatformAccount.objects.filter(platform=platform, external_id=external_id, is_active=True)
            .values_list(*_BY_EXTERNAL_ID_FIELDS)
            .first()
        )

    return _account_cached(
        f"conversations:platform_account:x:{platform}:{digest}", _BY_EXTERNAL_ID_FIELDS, query
    )


def platform_account_by_webhook_secret(*, platform: str, secret: str) -> PlatformAccount | None:
    """The active account whose webhook secret (Telegram) / verify token (WhatsApp) is ``secret``,
    found by its keyed hash (which is also the cache key: the secret itself is never stored)."""
    if not secret:
        return None
    hashed = secret_hash(secret)

    def query() -> tuple[Any, ...] | None:
        return (
            PlatformAccount.objects.filter(platform=platform, webhook_secret_hash=hashed, is_active=True)
            .values_list(*_BY_SECRET_FIELDS)
            .first()
        )

    return _account_cached(f"conversations:platform_account:s:{platform}:{hashed}", _BY_SECRET_FIELDS, query)


def default_organization() -> Organization | None:
    """The organisation of env-configured (account-less) platform credentials."""
    slug = conf.default_organization_slug()
    qs = Organization.objects.filter(is_active=True)
    if slug:
        return qs.filter(slug=slug).first()
    return qs.first() if qs.count() == 1 else None


ENV_CREDENTIALS = {
    "whatsapp": {
        "app_secret": conf.whatsapp_app_secret,
        "verify_token": conf.whatsapp_verify_token,
        "access_token": conf.whatsapp_access_token,
        "phone_number_id": conf.whatsapp_phone_number_id,
    },
    "slack": {"signing_secret": conf.slack_signing_secret, "bot_token": conf.slack_bot_token},
    "telegram": {"bot_token": conf.telegram_bot_token, "webhook_secret": conf.telegram_webhook_secret},
}


def platform_credentials(*, platform: str, account: PlatformAccount | None = None) -> dict[str, str]:
    """The account's secrets over the env fallbacks (``WHATSAPP_*``, ``SLACK_*``, ``TELEGRAM_*``;
    a fallback is only read for a secret the account does not set)."""
    secrets = _secrets_decrypted(account.secrets_encrypted) if account is not None else {}
    creds = {
        name: secrets.get(name) or str(getter()) for name, getter in ENV_CREDENTIALS.get(platform, {}).items()
    }
    creds.update({k: v for k, v in secrets.items() if v})
    if account is not None and platform == "whatsapp":
        creds["phone_number_id"] = account.external_id
    return creds


# Decrypting an account's secrets (Fernet: HMAC check + AES) on every webhook cost about as much as
# the rest of its verification; the plaintext of a ciphertext never changes, so each process keeps
# what it decrypted by ciphertext (a changed or rotated secret is a new ciphertext). Only in this
# process's memory, never in the shared cache; bounded like the account entries.
_decrypted: dict[str, dict[str, str]] = {}


def _secrets_decrypted(token: str) -> dict[str, str]:
    found = _decrypted.get(token)
    if found is None:
        from apps.conversations.platforms.crypto import secrets_decrypt

        found = secrets_decrypt(token)
        if len(_decrypted) >= ACCOUNT_LOCAL_MAX:
            _decrypted.clear()
        if found:  # an undecryptable token ({}: key missing) is tried again next time
            _decrypted[token] = found
    return dict(found)


def slack_signing_secrets(*, limit: int = 20) -> list[str]:
    accounts = PlatformAccount.objects.filter(platform="slack", is_active=True)[:limit]
    return [a.secrets_get().get("signing_secret", "") for a in accounts]


def conversation_account(conversation: Conversation) -> PlatformAccount | None:
    return PlatformAccount.objects.filter(
        organization_id=conversation.organization_id, platform=conversation.platform, is_active=True
    ).first()


# A conversation is "active" with a message this recent (the conversation_active_count gauge's window).
ACTIVE_WINDOW = timedelta(hours=24)


def conversation_list(
    *, organization: Organization, filters: dict[str, Any] | None = None
) -> QuerySet[Conversation]:
    """The organisation's conversations with their derived ``status`` (``ConversationStatus``) and
    ``active_flow_runs`` (the one run holding the conversation's lock, if any)."""
    from apps.conversations.filters import ConversationFilter

    pending = FlowRun.objects.filter(conversation=OuterRef("pk"), is_active=True)
    qs = (
        Conversation.objects.filter(organization=organization)
        .annotate(
            status=Case(
                When(Exists(pending), then=Value(ConversationStatus.PENDING)),
                When(
                    last_message_at__gte=timezone.now() - ACTIVE_WINDOW, then=Value(ConversationStatus.ACTIVE)
                ),
                default=Value(ConversationStatus.IDLE),
                output_field=CharField(),
            )
        )
        .prefetch_related(
            Prefetch("flow_runs", queryset=FlowRun.objects.filter(is_active=True), to_attr="active_flow_runs")
        )
    )
    if not filters:  # the API's filter backend applies the query string itself
        return qs
    return ConversationFilter(filters, queryset=qs).qs


def conversation_get(*, organization: Organization, conversation_id: Any) -> Conversation | None:
    return conversation_list(organization=organization).filter(pk=conversation_id).first()


def conversation_messages(*, conversation: Conversation) -> QuerySet[ConversationMessage]:
    """Every message of the conversation, both directions (the API pages them newest first)."""
    return ConversationMessage.objects.filter(conversation=conversation)


def outbound_by_id(ids: list[str]) -> dict[str, OutboundMessage]:
    """The replies behind outbound messages (``ConversationMessage.raw["outbound_id"]``), in one query."""
    valid = []
    for value in ids:
        try:
            valid.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    return {str(o.pk): o for o in OutboundMessage.objects.filter(pk__in=valid)}


def flow_runs_due(*, now: Any, limit: int = 500) -> list[tuple[Any, Any]]:
    return list(
        FlowRun.objects.filter(expires_at__lte=now)
        .order_by("expires_at")
        .values_list("id", "version")[:limit]
    )


def outbox_local(*, organization: Organization) -> QuerySet[OutboundMessage]:
    return OutboundMessage.objects.filter(conversation__organization=organization, channel="local").order_by(
        "-created_at"
    )
