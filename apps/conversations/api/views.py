"""Webhook endpoints of WhatsApp, Slack and Telegram, and the QR image of a reply.

Plain Django views (no DRF negotiation) because they sit on the hot path: verify
the request, store the raw event, answer 200. Processing runs in a Celery task.
Errors use the AgentPay body ``{"code", "message", "errors"}``.

The account lookups are cached (``selectors``: only what verification needs is loaded, the
organisation is passed on by id) and each event is stored with one autocommitted statement
(``services.webhook_event_store``), so there is no transaction of the view's own: a row is
committed, and its processing task queued, before the 200 is sent.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from apps.conversations import conf, selectors, services
from apps.conversations.choices import Platform
from apps.conversations.models import OutboundMessage, PlatformAccount
from apps.conversations.platforms.base import Reply, qr_png
from apps.conversations.platforms.slack import webhooks as slack_hooks
from apps.conversations.platforms.telegram import webhooks as telegram_hooks
from apps.conversations.platforms.whatsapp import webhooks as whatsapp_hooks
from apps.core.exceptions import error_body
from apps.core.models import Organization

logger = structlog.get_logger(__name__)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def _json_body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _account_org(account: PlatformAccount | None) -> Organization | None:
    """The organisation to pass with ``account``: None when there is an account (the store uses
    its ``organization_id``, no fetch), else the one of env-configured credentials."""
    return None if account is not None else selectors.default_organization()


# --- WhatsApp -------------------------------------------------------------------
@csrf_exempt
@require_http_methods(["GET", "POST"])
def whatsapp_webhook(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        # Meta's verification handshake when the webhook is configured
        mode = request.GET.get("hub.mode", "")
        token = request.GET.get("hub.verify_token", "")
        challenge = request.GET.get("hub.challenge", "")
        account = selectors.platform_account_by_webhook_secret(platform=Platform.WHATSAPP, secret=token)
        env_token = conf.whatsapp_verify_token()
        if mode == "subscribe" and token and (account is not None or (env_token and token == env_token)):
            return HttpResponse(challenge, content_type="text/plain")
        return _error(403, "verification_failed", "hub.verify_token does not match.")
    body = request.body
    payload = _json_body(request)
    if payload is None:
        return _error(400, "invalid_json", "The body is not a JSON object.")
    pids = whatsapp_hooks.phone_number_ids(payload)
    accounts = {
        pid: selectors.platform_account_find(platform=Platform.WHATSAPP, external_id=pid) for pid in pids
    }
    # every account in the delivery must share the app secret the signature was made with
    secrets = {
        selectors.platform_credentials(platform=Platform.WHATSAPP, account=a).get("app_secret", "")
        for a in accounts.values()
    } or {conf.whatsapp_app_secret()}
    header = request.headers.get("X-Hub-Signature-256", "")
    if len(secrets) != 1 or not whatsapp_hooks.signature_valid(
        app_secret=secrets.pop(), body=body, header=header
    ):
        return _error(401, "invalid_signature", "X-Hub-Signature-256 does not match the body.")
    stored = 0
    # each event is stored on its own (a retried delivery after a failure halfway stores the rest
    # and ignores the ones already stored)
    for event_id, event_type, pid, item in whatsapp_hooks.events_split(payload):
        account = accounts.get(pid)
        _, created = services.webhook_event_store(
            platform=Platform.WHATSAPP,
            event_id=event_id,
            event_type=event_type,
            payload=item,
            account=account,
            organization=_account_org(account),
        )
        stored += int(created)
    return JsonResponse({"ok": True, "stored": stored})


# --- Slack ----------------------------------------------------------------------
@csrf_exempt
@require_http_methods(["POST"])
def slack_webhook(request: HttpRequest) -> HttpResponse:
    body = request.body
    try:
        payload = slack_hooks.body_parse(body, request.content_type or "")
    except (ValueError, UnicodeDecodeError):
        return _error(400, "invalid_body", "The body is neither JSON nor a Slack form payload.")
    team = slack_hooks.team_id(payload)
    account = selectors.platform_account_find(platform=Platform.SLACK, external_id=team) if team else None
    secrets = [
        selectors.platform_credentials(platform=Platform.SLACK, account=account).get("signing_secret", "")
    ]
    if account is None:
        # url_verification carries no team: any configured Slack app may be the one being set up
        secrets += selectors.slack_signing_secrets()
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    window = conf.slack_replay_window_seconds()
    if not any(
        slack_hooks.signature_valid(
            signing_secret=secret, timestamp=timestamp, body=body, signature=signature, window=window
        )
        for secret in secrets
        if secret
    ):
        return _error(401, "invalid_signature", "X-Slack-Signature does not match or the request is too old.")
    if payload.get("type") == "url_verification":
        return JsonResponse({"challenge": payload.get("challenge", "")})
    event_id, event_type = slack_hooks.event_key(payload)
    if not event_id:
        return JsonResponse({"ok": True, "stored": 0})
    _, created = services.webhook_event_store(
        platform=Platform.SLACK,
        event_id=event_id,
        event_type=event_type,
        payload=payload,
        account=account,
        organization=_account_org(account),
    )
    if payload.get("type") == "slash_command":
        return HttpResponse(status=200)  # an empty 200: the answer comes as a normal message
    return JsonResponse({"ok": True, "stored": int(created)})


# --- Telegram -------------------------------------------------------------------
@csrf_exempt
@require_http_methods(["POST"])
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    header = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    account = selectors.platform_account_by_webhook_secret(platform=Platform.TELEGRAM, secret=header)
    if account is None and not telegram_hooks.secret_valid(
        expected=conf.telegram_webhook_secret(), header=header
    ):
        return _error(403, "invalid_secret_token", "X-Telegram-Bot-Api-Secret-Token does not match.")
    update = _json_body(request)
    if update is None or "update_id" not in update:
        return _error(400, "invalid_update", "The body is not a Telegram Update.")
    # update_id is unique per bot: qualify it with the bot (account) it came to
    bot = account.external_id if account else hashlib.sha256(header.encode()).hexdigest()[:12]
    _, created = services.webhook_event_store(
        platform=Platform.TELEGRAM,
        event_id=f"{bot}:{update['update_id']}",
        event_type=telegram_hooks.event_type(update),
        payload=update,
        account=account,
        organization=_account_org(account),
    )
    return JsonResponse({"ok": True, "stored": int(created)})


# --- QR images for Slack image blocks -------------------------------------------
@require_GET
def reply_qr_png(request: HttpRequest, outbound_id: str) -> HttpResponse:
    """The PNG of a reply's QR code; the unguessable reply id is the capability (Slack fetches it)."""
    outbound = OutboundMessage.objects.filter(pk=outbound_id).only("reply").first()
    qr = Reply.from_dict(outbound.reply).qr if outbound else ""
    if not qr:
        return _error(404, "not_found", "No QR code for this reply.")
    return HttpResponse(qr_png(qr), content_type="image/png")
