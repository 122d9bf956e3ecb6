from __future__ import annotations

from typing import Any

from apps.conversations.services import platform_account_create

WA_PHONE_NUMBER_ID = "106540352242922"
WA_APP_SECRET = "wa-app-secret-0123456789abcdef"
SLACK_TEAM = "T1DC2JH3J"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # Slack's documented example secret
TG_BOT_ID = "7000000001"
TG_SECRET = "tg-webhook-secret_ABC-123"


def whatsapp_account(organization: Any, **secrets: str) -> Any:
    return platform_account_create(
        organization=organization,
        platform="whatsapp",
        external_id=WA_PHONE_NUMBER_ID,
        secrets={
            "app_secret": WA_APP_SECRET,
            "verify_token": "verify-me",
            "access_token": "EAAG-test",
            **secrets,
        },
    )


def slack_account(organization: Any, **secrets: str) -> Any:
    return platform_account_create(
        organization=organization,
        platform="slack",
        external_id=SLACK_TEAM,
        secrets={"signing_secret": SLACK_SECRET, "bot_token": "xoxb-test", **secrets},
    )


def telegram_account(organization: Any, **secrets: str) -> Any:
    return platform_account_create(
        organization=organization,
        platform="telegram",
        external_id=TG_BOT_ID,
        secrets={"bot_token": "7000000001:AAH-test", "webhook_secret": TG_SECRET, **secrets},
    )
