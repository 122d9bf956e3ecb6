"""Configuration of the conversations app (env vars, overridable in settings).

Platform credentials live on ``PlatformAccount`` rows (secrets encrypted with
``FIELD_ENCRYPTION_KEYS``); the env vars below are the fallback for a
single-tenant deployment. With no credentials at all, replies go to the local
outbox (``OutboundMessage`` with channel ``local``).
"""

from __future__ import annotations

from typing import Any

import environ
from django.conf import settings

env = environ.Env()


def _get(name: str, default: Any, cast: Any = str) -> Any:
    if hasattr(settings, name):
        return getattr(settings, name)
    if cast is int:
        return env.int(name, default=default)
    if cast is bool:
        return env.bool(name, default=default)
    return env.str(name, default=default)


def stream_recheck_seconds() -> int:
    """How often an open live-feed socket's credential is checked again (default a minute): a
    revoked API key, an expired JWT or a logged-out session stops receiving events within it."""
    return int(_get("STREAM_RECHECK_SECONDS", 60, int))


def confirmation_ttl_seconds() -> int:
    """How long a payment confirmation stays valid (default 5 minutes)."""
    return int(_get("CONVERSATIONS_CONFIRMATION_TTL", 300, int))


def flow_idle_ttl_seconds() -> int:
    """How long a flow waiting on people (split, negotiation) stays open (default 7 days)."""
    return int(_get("CONVERSATIONS_FLOW_IDLE_TTL", 7 * 86400, int))


def slack_replay_window_seconds() -> int:
    return int(_get("SLACK_REPLAY_WINDOW", 300, int))


def whatsapp_app_secret() -> str:
    return str(_get("WHATSAPP_APP_SECRET", ""))


def whatsapp_verify_token() -> str:
    return str(_get("WHATSAPP_VERIFY_TOKEN", ""))


def whatsapp_access_token() -> str:
    return str(_get("WHATSAPP_ACCESS_TOKEN", ""))


def whatsapp_phone_number_id() -> str:
    return str(_get("WHATSAPP_PHONE_NUMBER_ID", ""))


def whatsapp_api_base() -> str:
    return str(_get("WHATSAPP_API_BASE", "https://graph.facebook.com/v21.0")).rstrip("/")


def slack_signing_secret() -> str:
    return str(_get("SLACK_SIGNING_SECRET", ""))


def slack_bot_token() -> str:
    return str(_get("SLACK_BOT_TOKEN", ""))


def slack_api_base() -> str:
    return str(_get("SLACK_API_BASE", "https://slack.com/api/"))


def telegram_bot_token() -> str:
    return str(_get("TELEGRAM_BOT_TOKEN", ""))


def telegram_webhook_secret() -> str:
    return str(_get("TELEGRAM_WEBHOOK_SECRET", ""))


def telegram_api_base() -> str:
    return str(_get("TELEGRAM_API_BASE", "https://api.telegram.org")).rstrip("/")


def default_organization_slug() -> str:
    """Organisation for env-configured (account-less) webhooks."""
    return str(_get("CONVERSATIONS_DEFAULT_ORG", ""))


def outbound_max_retries() -> int:
    return int(_get("CONVERSATIONS_OUTBOUND_MAX_RETRIES", 5, int))
