"""Webhook endpoints of WhatsApp, Slack and Telegram, the QR image of a reply, and the REST API of
conversations (``/api/v1/conversations``: list, detail, messages, send).

The webhooks are plain Django views (no DRF negotiation) because they sit on the hot path: verify
the request, store the raw event, answer 200. Processing runs in a Celery task.
Errors use the AgentPay body ``{"code", "message", "errors"}``.

The account lookups are cached (``selectors``: only what verification needs is loaded, the
organisation is passed on by id) and each event is stored with one autocommitted statement
(``services.webhook_event_ingest``, no model instance), so there is no transaction of the view's
own: a row is committed, and handed to processing, before the 200 is sent. These three views
skip most of the middleware stack (``apps.conversations.middleware.WebhookIngestMiddleware``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import structlog
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.conversations import conf, selectors, services
from apps.conversations.api.serializers import (
    ConversationMessageSerializer,
    ConversationSerializer,
    MessageSendSerializer,
)
from apps.conversations.choices import Platform
from apps.conversations.filters import ConversationFilter, ConversationMessageFilter
from apps.conversations.models import Conversation, ConversationMessage, OutboundMessage, PlatformAccount
from apps.conversations.platforms.base import Reply, qr_png
from apps.conversations.platforms.slack import webhooks as slack_hooks
from apps.conversations.platforms.telegram import webhooks as telegram_hooks
from apps.conversations.platforms.whatsapp import webhooks as whatsapp_hooks
from apps.core.choices import Role
from apps.core.exceptions import NotFound, error_body
from apps.core.tenancy import organization_required, request_actor
from apps.payments.idempotency import IdempotentAPIMixin

logger = structlog.get_logger(__name__)


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def _json_body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        data = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _owner(account: PlatformAccount | None) -> dict[str, Any]:
    """Whose event it is: the account and its organisation (by id, no fetch), else the
    organisation of env-configured credentials."""
    if account is not None:
        return {"account_id": account.pk, "organization_id": account.organization_id}
    organization = selectors.default_organization()
    return {"account_id": None, "organization_id": organization.pk if organization else None}


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
        stored += (
            services.webhook_event_ingest(
                platform=Platform.WHATSAPP,
                event_id=event_id,
                event_type=event_type,
                payload=item,
                **_owner(accounts.get(pid)),
            )
            is not None
        )
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
    created = services.webhook_event_ingest(
        platform=Platform.SLACK, event_id=event_id, event_type=event_type, payload=payload, **_owner(account)
    )
    if payload.get("type") == "slash_command":
        return HttpResponse(status=200)  # an empty 200: the answer comes as a normal message
    return JsonResponse({"ok": True, "stored": int(created is not None)})


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
    created = services.webhook_event_ingest(
        platform=Platform.TELEGRAM,
        event_id=f"{bot}:{update['update_id']}",
        event_type=telegram_hooks.event_type(update),
        payload=update,
        **_owner(account),
    )
    return JsonResponse({"ok": True, "stored": int(created is not None)})


# --- QR images for Slack image blocks -------------------------------------------
@require_GET
def reply_qr_png(request: HttpRequest, outbound_id: str) -> HttpResponse:
    """The PNG of a reply's QR code; the unguessable reply id is the capability (Slack fetches it)."""
    outbound = OutboundMessage.objects.filter(pk=outbound_id).only("reply").first()
    qr = Reply.from_dict(outbound.reply).qr if outbound else ""
    if not qr:
        return _error(404, "not_found", "No QR code for this reply.")
    return HttpResponse(qr_png(qr), content_type="image/png")


# --- REST: conversations and their messages -------------------------------------
IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Same key + same body replays the first answer (Idempotent-Replayed: true); "
    "another body is 422 idempotency_key_reused.",
)
# Who may write to a customer in the organisation's name: not developers (their keys use scopes).
SENDING_ROLES = (Role.OWNER, Role.FINANCE, Role.COMPLIANCE_REVIEWER)


def _conversation_or_404(request: Request, conversation_id: Any) -> Any:
    conversation = selectors.conversation_get(
        organization=organization_required(request), conversation_id=conversation_id
    )
    if conversation is None:
        raise NotFound("Conversation not found.", code="conversation_not_found")
    return conversation


class ConversationListView(generics.ListAPIView):
    """``GET /api/v1/conversations``: the organisation's conversations, newest first (cursor)."""

    serializer_class = ConversationSerializer
    filterset_class = ConversationFilter
    required_scope = "conversations"
    read_scope_suffices = False  # chat texts, participants' names and numbers

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return Conversation.objects.none()
        return selectors.conversation_list(organization=organization_required(self.request))

    @extend_schema(summary="Conversations of the organisation (filter by platform, status, dates)")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ConversationDetailView(APIView):
    """``GET /api/v1/conversations/{id}``."""

    required_scope = "conversations"
    read_scope_suffices = False  # chat texts, participants' names and numbers

    @extend_schema(responses=ConversationSerializer, summary="A conversation")
    def get(self, request: Request, conversation_id: Any) -> Response:
        return Response(ConversationSerializer(_conversation_or_404(request, conversation_id)).data)


class ConversationMessagesView(IdempotentAPIMixin, generics.ListAPIView):
    """``GET /api/v1/conversations/{id}/messages`` (newest first, cursor) and ``POST`` to send one
    through the conversation's platform (or the local outbox)."""

    serializer_class = ConversationMessageSerializer
    filterset_class = ConversationMessageFilter
    required_scope = "conversations"
    read_scope_suffices = False  # chat texts, participants' names and numbers

    @property
    def allowed_roles(self) -> tuple[str, ...] | None:  # read by HasRole: only sending is restricted
        return SENDING_ROLES if self.request.method == "POST" else None

    def get_queryset(self):  # type: ignore[no-untyped-def]
        if getattr(self, "swagger_fake_view", False):
            return ConversationMessage.objects.none()
        conversation = _conversation_or_404(self.request, self.kwargs["conversation_id"])
        return selectors.conversation_messages(conversation=conversation)

    def get_serializer(self, *args: Any, **kwargs: Any) -> Any:
        rows = args[0] if args else kwargs.get("instance")
        if rows is not None:  # one query for the deliveries of the page's outbound messages
            messages = rows if isinstance(rows, list) else [rows]
            ids = [str(m.raw["outbound_id"]) for m in messages if (m.raw or {}).get("outbound_id")]
            kwargs["context"] = {**self.get_serializer_context(), "outbound": selectors.outbound_by_id(ids)}
        return super().get_serializer(*args, **kwargs)

    @extend_schema(summary="Messages of a conversation, both directions, newest first")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        request=MessageSendSerializer,
        responses={201: ConversationMessageSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Send a message to the conversation through its platform (stored before the answer)",
    )
    def post(self, request: Request, conversation_id: Any) -> Response:
        conversation = _conversation_or_404(request, conversation_id)
        serializer = MessageSendSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        message = services.conversation_message_send(
            conversation=conversation, text=serializer.validated_data["text"], actor=request_actor(request)
        )
        return Response(self.get_serializer(message).data, status=status.HTTP_201_CREATED)
