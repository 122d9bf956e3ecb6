"""Reads of the conversations app: accounts and credentials, conversations, outbox."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from apps.conversations import conf
from apps.conversations.models import Conversation, FlowRun, OutboundMessage, PlatformAccount
from apps.conversations.platforms.crypto import secret_hash
from apps.core.models import Organization


def platform_account_find(*, platform: str, external_id: str) -> PlatformAccount | None:
    return (
        PlatformAccount.objects.select_related("organization")
        .filter(platform=platform, external_id=external_id, is_active=True)
        .first()
    )


def platform_account_by_webhook_secret(*, platform: str, secret: str) -> PlatformAccount | None:
    if not secret:
        return None
    return (
        PlatformAccount.objects.select_related("organization")
        .filter(platform=platform, webhook_secret_hash=secret_hash(secret), is_active=True)
        .first()
    )


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
    """The account's secrets over the env fallbacks (``WHATSAPP_*``, ``SLACK_*``, ``TELEGRAM_*``)."""
    creds = {name: str(getter()) for name, getter in ENV_CREDENTIALS.get(platform, {}).items()}
    if account is not None:
        creds.update({k: v for k, v in account.secrets_get().items() if v})
        if platform == "whatsapp":
            creds["phone_number_id"] = account.external_id
    return creds


def slack_signing_secrets(*, limit: int = 20) -> list[str]:
    accounts = PlatformAccount.objects.filter(platform="slack", is_active=True)[:limit]
    return [a.secrets_get().get("signing_secret", "") for a in accounts]


def conversation_account(conversation: Conversation) -> PlatformAccount | None:
    return PlatformAccount.objects.filter(
        organization_id=conversation.organization_id, platform=conversation.platform, is_active=True
    ).first()


def conversation_list(*, organization: Organization) -> QuerySet[Conversation]:
    return Conversation.objects.filter(organization=organization).order_by("-last_message_at")


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
