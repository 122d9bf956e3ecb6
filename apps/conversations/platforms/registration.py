"""Point a platform's webhooks at this deployment (``manage.py webhooks_register``, admin action).

- **Telegram** (Bot API ``setWebhook``): our ``/api/v1/webhooks/telegram`` with the account's
  ``webhook_secret`` as ``secret_token`` (Telegram sends it back in
  ``X-Telegram-Bot-Api-Secret-Token``) and the update types the bot handles; then
  ``getWebhookInfo`` says what Telegram now has (pending updates, its last delivery error).
- **WhatsApp** (Graph API): the app's ``whatsapp_business_account`` subscription
  (``POST /{app-id}/subscriptions`` with the app access token ``{app-id}|{app-secret}``, our
  callback URL, the account's ``verify_token`` and the ``messages`` field; Meta calls our GET
  verification handshake before it answers), and, given the business account id, that account's
  subscription to the app (``POST /{waba-id}/subscribed_apps``).
- **Slack** (App Manifest API, given the app id and an app configuration token): the app's
  manifest is exported (``apps.manifest.export``), our URL set as the Request URL of Event
  Subscriptions, Interactivity and every slash command, and the manifest updated
  (``apps.manifest.update``); Slack then checks the URL with a ``url_verification`` challenge.
  Scopes and bot events are left as they are (changing them would need the app reinstalled); the
  answer names the bot events AgentPay reads that the app does not subscribe to. Without a
  configuration token (they are per person and expire after 12 hours, so they are passed when
  registering rather than stored) the answer says which URL to paste where.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings
from django.urls import reverse
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from apps.conversations import conf
from apps.conversations.models import PlatformAccount
from apps.conversations.platforms.base import SendError
from apps.conversations.platforms.telegram.client import TelegramClient
from apps.core.exceptions import ApplicationError

TELEGRAM_UPDATES = ["message", "edited_message", "callback_query"]
SLACK_BOT_EVENTS = ("app_mention", "message.channels", "message.im")
# Telegram: "1-256 characters. Only characters A-Z, a-z, 0-9, _ and - are allowed."
TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class RegistrationError(ApplicationError):
    status_code = 422
    code = "webhook_registration_failed"
    message = "The platform did not take the webhook."


@dataclass
class Registration:
    platform: str
    url: str
    registered: bool  # through the platform's API (False: a person has to, see ``instructions``)
    detail: dict[str, Any] = field(default_factory=dict)  # what the platform answered
    instructions: str = ""


def webhook_url(platform: str, public_url: str = "") -> str:
    """The public URL of our webhook endpoint for ``platform``."""
    base = (public_url or settings.AGENTPAY_PUBLIC_URL).rstrip("/")
    return base + reverse(f"v1:webhook-{platform}")


def webhook_register(*, account: PlatformAccount, public_url: str = "", **options: str) -> Registration:
    """Register ``account``'s webhook with its platform (``options``: WhatsApp ``app_id``,
    ``waba_id``; they may also be stored with the account's secrets). Audited."""
    from apps.compliance.services import audit_record

    url = webhook_url(account.platform, public_url)
    if not url.startswith("https://"):
        raise RegistrationError(
            f"{url} is not HTTPS: platforms deliver webhooks only to HTTPS URLs "
            "(set AGENTPAY_PUBLIC_URL or pass the public URL).",
            extra={"url": url},
        )
    register = {"telegram": _telegram, "whatsapp": _whatsapp, "slack": _slack}.get(account.platform)
    if register is None:
        raise RegistrationError(f"{account.platform} webhooks are not registered with a platform.")
    secrets = account.secrets_get()
    result = register(account, url, secrets, options)
    if result.registered:
        audit_record(
            action="conversations.webhook_registered",
            target=account,
            organization=account.organization_id,
            after={"platform": account.platform, "external_id": account.external_id, "url": url},
        )
    return result


def _telegram(
    account: PlatformAccount, url: str, secrets: dict[str, str], options: dict[str, str]
) -> Registration:
    token, secret = secrets.get("bot_token", ""), secrets.get("webhook_secret", "")
    if not token:
        raise RegistrationError("This Telegram account has no bot_token.")
    if not TELEGRAM_SECRET.match(secret):
        raise RegistrationError(
            "This Telegram account needs a webhook_secret of 1-256 characters A-Z, a-z, 0-9, _ or - "
            "(Telegram sends it back with every update; updates without it are refused)."
        )
    client = TelegramClient(bot_token=token, base_url=conf.telegram_api_base())
    try:
        client.call("setWebhook", {"url": url, "secret_token": secret, "allowed_updates": TELEGRAM_UPDATES})
        info = client.call("getWebhookInfo", {})
    except SendError as exc:
        raise RegistrationError(f"Telegram refused the webhook: {exc}") from exc
    finally:
        client.close()
    if info.get("url") != url:
        raise RegistrationError(
            f"Telegram reports the webhook as {info.get('url')!r}, not {url}.", extra=info
        )
    return Registration(platform="telegram", url=url, registered=True, detail=info)


def _whatsapp(
    account: PlatformAccount, url: str, secrets: dict[str, str], options: dict[str, str]
) -> Registration:
    app_id = options.get("app_id") or secrets.get("app_id", "")
    waba_id = options.get("waba_id") or secrets.get("waba_id", "")
    app_secret, verify_token = secrets.get("app_secret", ""), secrets.get("verify_token", "")
    if not app_id:
        raise RegistrationError(
            "WhatsApp needs the Meta app id (--app-id, or app_id with the account's secrets)."
        )
    if not (app_secret and verify_token):
        raise RegistrationError("This WhatsApp account needs its app_secret and verify_token.")
    detail: dict[str, Any] = {}
    with httpx.Client(base_url=conf.whatsapp_api_base(), timeout=30.0) as http:
        detail["subscription"] = _graph(
            http,
            f"/{app_id}/subscriptions",
            data={
                "object": "whatsapp_business_account",
                "callback_url": url,
                "verify_token": verify_token,
                "fields": "messages",
                "access_token": f"{app_id}|{app_secret}",
            },
        )
        if waba_id:
            token = secrets.get("access_token", "")
            if not token:
                raise RegistrationError("Subscribing the business account needs the account's access_token.")
            detail["subscribed_apps"] = _graph(
                http, f"/{waba_id}/subscribed_apps", headers={"Authorization": f"Bearer {token}"}
            )
    return Registration(platform="whatsapp", url=url, registered=True, detail=detail)


def _graph(http: httpx.Client, path: str, **kwargs: Any) -> dict[str, Any]:
    try:
        resp = http.post(path, **kwargs)
    except httpx.HTTPError as exc:
        raise RegistrationError(f"The Graph API is unreachable: {exc}") from exc
    body: dict[str, Any] = (
        resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
    )
    if resp.status_code >= 400 or not body.get("success"):
        error = (body.get("error") or {}).get("message") or resp.text[:300]
        raise RegistrationError(f"Meta refused {path}: {error}", extra={"status": resp.status_code})
    return body


def _slack(
    account: PlatformAccount, url: str, secrets: dict[str, str], options: dict[str, str]
) -> Registration:
    app_id = options.get("app_id") or secrets.get("app_id", "")
    config_token = options.get("config_token", "")
    if not (app_id and config_token):
        return Registration(
            platform="slack",
            url=url,
            registered=False,
            instructions=(
                f"In the Slack app's settings (api.slack.com/apps), paste {url} as the Request URL under "
                "Event Subscriptions (subscribe to the message.channels, message.im and app_mention bot "
                "events), under Interactivity & Shortcuts and as each slash command's Request URL. Slack "
                "checks it with a url_verification challenge, which this endpoint answers once the "
                "account's signing_secret is set. Or register it through Slack's App Manifest API: pass "
                "the app id and an app configuration token (--app-id, --config-token)."
            ),
        )
    client = WebClient(token=config_token, base_url=conf.slack_api_base(), timeout=30)
    try:
        manifest = dict(client.apps_manifest_export(app_id=app_id)["manifest"])
        app_settings = manifest.setdefault("settings", {})
        events = app_settings.setdefault("event_subscriptions", {})
        events["request_url"] = url
        app_settings["interactivity"] = {
            **app_settings.get("interactivity", {}),
            "is_enabled": True,
            "request_url": url,
        }
        commands = (manifest.get("features") or {}).get("slash_commands") or []
        for command in commands:
            command["url"] = url
        answer = client.apps_manifest_update(app_id=app_id, manifest=manifest)
    except SlackApiError as exc:
        body = exc.response.data if exc.response is not None and isinstance(exc.response.data, dict) else {}
        raise RegistrationError(
            f"Slack refused the app manifest: {body.get('error') or exc}",
            extra={"errors": body.get("errors", [])},
        ) from exc
    except (SlackClientError, OSError) as exc:
        raise RegistrationError(f"Slack is unreachable: {exc}") from exc
    missing = sorted(set(SLACK_BOT_EVENTS) - set(events.get("bot_events") or []))
    return Registration(
        platform="slack",
        url=url,
        registered=True,
        detail={
            "app_id": app_id,
            "slash_commands": [c.get("command") for c in commands],
            "permissions_updated": bool(answer.get("permissions_updated")),
            "bot_events_missing": missing,
        },
        instructions=(
            f"The app does not subscribe to {', '.join(missing)}: add them under Event Subscriptions "
            "(and reinstall the app) for AgentPay to see those messages."
            if missing
            else ""
        ),
    )
