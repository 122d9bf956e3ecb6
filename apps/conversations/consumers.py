"""WebSocket consumers: the live feed (staff, integrations) and the public web chat.

Live feed: ``/api/v1/stream`` (the organisation) and
``/api/v1/conversations/<id>/stream`` (one conversation). The caller is
authenticated by ``apps.core.websocket_auth`` (session, JWT or API key); the
socket is accepted and then closed with 4401 (no credentials), 4403 (no
organisation or API key without the ``conversations`` scope: the events carry chat texts, so
``read`` is not enough, as on the REST endpoints that return them) or 4404
(conversation of another organisation). Group messages
``{"type": "stream.event", "event": e, "data": d}`` reach clients as
``{"type": e, "data": d}``.

Web chat: ``/ws/chat/<org_slug>/<session_id>``, anonymous. The visitor's
session id (kept in the browser's localStorage) is the conversation's
external id. Client frames::

    {"type": "message", "text": "pay ana R$ 30 via pix", "client_id": "<uuid>"}
    {"type": "action", "token": "confirm:<run_id>:"}
    {"type": "history"}

Server frames: ``{"type": "history", "data": {"conversation_id", "messages": [...]}}``,
``{"type": "reply", "data": <reply payload, see platforms/webchat.py>}``,
``{"type": "message", "data": {...}}`` (echo of the visitor's stored message),
``payment_*`` status events and ``{"type": "error", "data": {"code", "message"}}``.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
import weakref
from typing import Any

import structlog
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from apps.conversations import conf
from apps.core.authentication import ApiKeyPrincipal
from apps.core.events import conversation_group, org_group
from apps.core.fanout import Subscription, fanout_hub
from apps.core.relay import relay_poller_ensure

logger = structlog.get_logger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 4400

SESSION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_TEXT_LENGTH = 2000
# A visitor typing faster than this is a script; the chat answers with an error frame.
WEBCHAT_RATE = (20, 10.0)  # messages per seconds
WEBCHAT_FORWARDED_EVENTS = frozenset(
    {
        "reply",
        "payment_initiated",
        "payment_completed",
        "payment_failed",
        "payment_on_hold",
        "payment_blocked",
    }
)
HISTORY_LIMIT = 100


def webchat_default_org_slug() -> str:
    """Organisation of ``/chat/`` without a slug: ``WEBCHAT_DEFAULT_ORG`` (default ``demo``)."""
    import environ

    value = getattr(settings, "WEBCHAT_DEFAULT_ORG", None)
    return str(value) if value else environ.Env().str("WEBCHAT_DEFAULT_ORG", default="demo")


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@database_sync_to_async
def _conversation_in_org(organization_id: Any, conversation_id: str) -> bool:
    from apps.conversations.models import Conversation

    if not _is_uuid(conversation_id):
        return False
    return Conversation.objects.filter(pk=conversation_id, organization_id=organization_id).exists()


CLOSE_TOO_SLOW = 1013  # "try again later": the client stopped reading and fell BACKLOG_LIMIT behind


class StreamConsumer(AsyncJsonWebsocketConsumer):
    """Relays an organisation's (or one conversation's) stream events to an authenticated client.

    Who may see which group is decided here, once, at connect; the events themselves come
    through the process's fan-out hub (``apps.core.fanout``), encoded once for every socket of
    the process, not through this consumer's own channel."""

    subscription: Subscription | None = None
    _closing: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        relay_poller_ensure()
        principal = self.scope.get("principal")
        organization = self.scope.get("organization")
        # Accept first: a close before accept is an HTTP 403 and the client never sees our code.
        await self.accept()
        if principal is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if organization is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if isinstance(principal, ApiKeyPrincipal) and not principal.has_scope("conversations"):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        conversation_id = self.scope["url_route"]["kwargs"].get("conversation_id")
        if conversation_id:
            if not await _conversation_in_org(organization.pk, str(conversation_id)):
                await self.close(code=CLOSE_NOT_FOUND)
                return
            group = conversation_group(conversation_id)
        else:
            group = org_group(organization.pk)
        hello = {
            "type": "subscribed",
            "data": {"organization_id": str(organization.pk), "conversation_id": conversation_id},
        }
        self.subscription = await fanout_hub().subscribe(
            group,
            self.base_send,
            first={"type": "websocket.send", "text": await self.encode_json(hello)},
            on_overflow=self._too_slow,
        )
        credential = self.scope.get("credential")
        if credential is not None:
            _rechecks().watch(self, credential, organization.pk)

    def _too_slow(self) -> None:
        self.subscription = None
        self._closing = asyncio.ensure_future(self.close(code=CLOSE_TOO_SLOW))

    async def credential_lapsed(self) -> None:
        """Its key was revoked, its token expired, its session ended or its membership went: no
        more events, and the client is told why (4401) rather than left listening to nothing."""
        if self.subscription is not None:
            subscription, self.subscription = self.subscription, None
            await subscription.close()
        try:
            await self.close(code=CLOSE_UNAUTHENTICATED)
        except Exception:  # the client went away meanwhile: nothing left to tell it
            logger.debug("stream_close_failed", exc_info=True)

    async def disconnect(self, code: int) -> None:
        _rechecks().sockets.pop(self, None)
        if self.subscription is not None:
            subscription, self.subscription = self.subscription, None
            await subscription.close()

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch hops to the sync thread (close_old_connections) before every
        # handler; only connect touches the database, and database_sync_to_async does that itself.
        if message["type"] == "websocket.connect":
            await super().dispatch(message)
        elif message["type"] == "websocket.receive":
            await self.websocket_receive(message)
        elif message["type"] == "websocket.disconnect":
            await self.websocket_disconnect(message)
        elif message["type"] == "stream.event":
            await self.stream_event(message)
        else:
            await super().dispatch(message)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # The feed is read-only; a ping keeps proxies from timing the socket out.
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong", "data": {}})

    async def stream_event(self, message: dict[str, Any]) -> None:
        # Only for a message sent to this consumer's own channel; group events come through the hub.
        await self.send_json({"type": message["event"], "data": message.get("data", {})})


class _CredentialRechecks:
    """Checks the credentials of this event loop's open live-feed sockets again every
    ``STREAM_RECHECK_SECONDS``: one task per process, and one query per distinct credential per
    round (10,000 sockets of one integration's key are one lookup), not one per socket."""

    def __init__(self) -> None:
        self.sockets: weakref.WeakKeyDictionary[StreamConsumer, tuple[Any, Any]] = weakref.WeakKeyDictionary()
        self.task: asyncio.Task[None] | None = None

    def watch(self, consumer: StreamConsumer, credential: Any, organization_id: Any) -> None:
        self.sockets[consumer] = (credential, organization_id)
        if self.task is None or self.task.done():
            self.task = asyncio.ensure_future(self._forever())

    async def _forever(self) -> None:
        while self.sockets:
            await asyncio.sleep(conf.stream_recheck_seconds())
            try:
                await self.recheck()
            except Exception:  # the database is away: keep the sockets, try again next round
                logger.exception("stream_credential_recheck_failed")

    async def recheck(self) -> int:
        """One round: close the sockets whose credential no longer admits them; how many were."""
        from apps.core.websocket_auth import credential_valid

        verdicts: dict[tuple[Any, str], bool] = {}
        lapsed = []
        for consumer, (credential, organization_id) in list(self.sockets.items()):
            key = (credential, str(organization_id))
            if key not in verdicts:
                verdicts[key] = await database_sync_to_async(credential_valid)(credential, organization_id)
            if not verdicts[key]:
                lapsed.append(consumer)
        for consumer in lapsed:
            self.sockets.pop(consumer, None)
            await consumer.credential_lapsed()
        if lapsed:
            logger.info(
                "stream_credentials_lapsed",
                sockets=len(lapsed),
                credentials=sum(not v for v in verdicts.values()),
            )
        return len(lapsed)


_rechecks_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _CredentialRechecks] = (
    weakref.WeakKeyDictionary()
)


def _rechecks() -> _CredentialRechecks:
    loop = asyncio.get_running_loop()
    rechecks = _rechecks_by_loop.get(loop)
    if rechecks is None:
        rechecks = _rechecks_by_loop[loop] = _CredentialRechecks()
    return rechecks


async def stream_credentials_recheck() -> int:
    """Run one recheck round now on this event loop (tests, or an operator's shell)."""
    return await _rechecks().recheck()


# --- web chat ---------------------------------------------------------------


@database_sync_to_async
def _organization_by_slug(slug: str) -> Any:
    from apps.core.models import Organization

    return Organization.objects.filter(slug=slug, is_active=True).first()


@database_sync_to_async
def _webchat_conversation_id(organization_id: Any, session_id: str) -> str | None:
    from apps.conversations.models import Conversation

    pk = (
        Conversation.objects.filter(
            organization_id=organization_id, platform="webchat", external_conversation_id=session_id
        )
        .values_list("pk", flat=True)
        .first()
    )
    return str(pk) if pk else None


def _reply_components(reply: dict[str, Any]) -> list[dict[str, Any]]:
    """Web chat components of a stored ``Reply.to_dict()`` (as the live ``reply`` event has them)."""
    from apps.conversations.platforms.base import Button, Option, Receipt, Reply
    from apps.conversations.platforms.webchat import webchat_components

    try:
        rebuilt = Reply(
            text=reply.get("text", ""),
            buttons=tuple(Button(**b) for b in reply.get("buttons") or ()),
            options=tuple(Option(**o) for o in reply.get("options") or ()),
            options_title=reply.get("options_title", ""),
            qr=reply.get("qr", ""),
            link=reply.get("link", ""),
            receipt=Receipt(**reply["receipt"]) if reply.get("receipt") else None,
            metadata=reply.get("metadata") or {},
        )
    except (TypeError, KeyError):
        return [{"type": "text", "text": str(reply.get("text", ""))}]
    return webchat_components(rebuilt)


def webchat_history(*, conversation_id: str, limit: int = HISTORY_LIMIT) -> list[dict[str, Any]]:
    """The last ``limit`` messages of a web chat, oldest first, as the page renders them.

    The visitor's messages come from ``ConversationMessage`` (inbound) and
    AgentPay's replies from ``OutboundMessage`` rendered with the same
    components as the live ``reply`` event, so a refreshed page looks the same.
    """
    from apps.conversations.models import ConversationMessage

    rows: list[tuple[Any, dict[str, Any]]] = []
    # Button clicks are stored as inbound "[confirm:...]" rows; the page shows the card instead.
    inbound = ConversationMessage.objects.filter(
        conversation_id=conversation_id, direction="inbound"
    ).exclude(detected_intent="action")
    for m in inbound.order_by("-created_at")[:limit]:
        rows.append(
            (
                m.created_at,
                {
                    "id": str(m.pk),
                    "direction": "inbound",
                    "text": m.message_text,
                    "created_at": m.created_at.isoformat(),
                },
            )
        )
    outbound_model = _outbound_model()
    if outbound_model is not None:
        outbound = outbound_model.objects.filter(conversation_id=conversation_id).order_by("-created_at")
        for o in outbound[:limit]:
            rows.append(
                (
                    o.created_at,
                    {
                        "id": str(o.pk),
                        "direction": "outbound",
                        "text": o.text,
                        "components": _reply_components(o.reply or {"text": o.text}),
                        "replaces": str(o.replaces_id) if o.replaces_id else None,
                        "created_at": o.created_at.isoformat(),
                    },
                )
            )
    rows.sort(key=lambda r: r[0])
    return [r[1] for r in rows[-limit:]]


def _outbound_model() -> Any:
    from django.apps import apps

    try:
        return apps.get_model("conversations", "OutboundMessage")
    except LookupError:
        return None


@database_sync_to_async
def _history(conversation_id: str) -> list[dict[str, Any]]:
    return webchat_history(conversation_id=conversation_id, limit=HISTORY_LIMIT)


@database_sync_to_async
def _message_receive(organization: Any, session_id: str, text: str, client_id: str) -> dict[str, Any]:
    from apps.conversations import services

    message = services.message_receive(
        organization=organization,
        platform="webchat",
        external_conversation_id=session_id,
        sender_id=session_id,
        sender_name="",
        text=text,
        platform_message_id=client_id,
        raw={"type": "message", "text": text, "client_id": client_id},
    )
    return {
        "id": str(message.pk),
        "conversation_id": str(message.conversation_id),
        "direction": "inbound",
        "text": message.message_text,
        "created_at": message.created_at.isoformat(),
    }


@database_sync_to_async
def _conversation_action(conversation_id: str, session_id: str, token: str) -> None:
    from apps.conversations import services
    from apps.conversations.models import Conversation

    conversation = Conversation.objects.get(pk=conversation_id)
    action = token.split(":", 1)[0]
    services.conversation_action(
        conversation=conversation, sender_id=session_id, action=action, payload={"token": token}
    )


class WebChatConsumer(AsyncJsonWebsocketConsumer):
    """The public web chat: one anonymous visitor session talking to one organisation."""

    organization: Any
    session_id: str
    conversation_id: str | None
    joined: str | None
    sent_at: list[float]

    async def connect(self) -> None:
        relay_poller_ensure()
        kwargs = self.scope["url_route"]["kwargs"]
        self.session_id = str(kwargs.get("session_id", ""))
        self.conversation_id = None
        self.joined = None
        self.sent_at = []
        await self.accept()
        if not SESSION_ID_RE.match(self.session_id):
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        self.organization = await _organization_by_slug(str(kwargs.get("org_slug") or ""))
        if self.organization is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.conversation_id = await _webchat_conversation_id(self.organization.pk, self.session_id)
        if self.conversation_id:
            await self._join(self.conversation_id)
        await self._send_history()

    async def disconnect(self, code: int) -> None:
        if getattr(self, "joined", None):
            await self.channel_layer.group_discard(self.joined, self.channel_name)

    async def _join(self, conversation_id: str) -> None:
        if self.joined:
            return
        self.joined = conversation_group(conversation_id)
        await self.channel_layer.group_add(self.joined, self.channel_name)

    async def _send_history(self) -> None:
        messages = await _history(self.conversation_id) if self.conversation_id else []
        await self.send_json(
            {"type": "history", "data": {"conversation_id": self.conversation_id, "messages": messages}}
        )

    async def _error(self, code: str, message: str) -> None:
        await self.send_json({"type": "error", "data": {"code": code, "message": message}})

    def _throttled(self) -> bool:
        limit, window = WEBCHAT_RATE
        now = time.monotonic()
        self.sent_at = [t for t in self.sent_at if now - t < window]
        if len(self.sent_at) >= limit:
            return True
        self.sent_at.append(now)
        return False

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self._error("invalid_frame", "Send a JSON object.")
            return
        kind = content.get("type")
        if kind == "history":
            await self._send_history()
        elif kind == "message":
            await self._on_message(content)
        elif kind == "action":
            await self._on_action(content)
        elif kind == "ping":
            await self.send_json({"type": "pong", "data": {}})
        else:
            await self._error("unknown_frame", "Unknown frame type.")

    async def _on_message(self, content: dict[str, Any]) -> None:
        text = content.get("text")
        if not isinstance(text, str) or not text.strip():
            await self._error("empty_message", "Type a message.")
            return
        if len(text) > MAX_TEXT_LENGTH:
            await self._error("message_too_long", f"Messages are limited to {MAX_TEXT_LENGTH} characters.")
            return
        if self._throttled():
            await self._error("throttled", "Too many messages; wait a few seconds.")
            return
        client_id = str(content.get("client_id") or uuid.uuid4())[:64]
        # Joining before storing would be ideal, but the conversation may not exist yet:
        # replies that raced ahead are in the history replay sent right after (the page dedupes by id).
        try:
            stored = await _message_receive(self.organization, self.session_id, text.strip(), client_id)
        except Exception as exc:  # the visitor gets a clear error, the log gets the details
            logger.exception("webchat_message_failed", session_id=self.session_id)
            await self._error(getattr(exc, "code", "message_failed"), "Your message could not be processed.")
            return
        first = self.conversation_id is None
        self.conversation_id = stored["conversation_id"]
        await self._join(stored["conversation_id"])
        await self.send_json({"type": "message", "data": {**stored, "client_id": client_id}})
        if first:
            await self._send_history()

    async def _on_action(self, content: dict[str, Any]) -> None:
        token = content.get("token")
        if not isinstance(token, str) or not token or len(token) > 128:
            await self._error("invalid_action", "Unknown button.")
            return
        if not self.conversation_id:
            await self._error("no_conversation", "Say something first.")
            return
        if self._throttled():
            await self._error("throttled", "Too many clicks; wait a few seconds.")
            return
        try:
            await _conversation_action(self.conversation_id, self.session_id, token)
        except Exception as exc:
            logger.exception("webchat_action_failed", session_id=self.session_id)
            message = getattr(exc, "message", "") or "This button no longer works."
            await self._error(getattr(exc, "code", "action_failed"), str(message))

    async def dispatch(self, message: dict[str, Any]) -> None:
        # A stream event needs no database: skip Channels' hop to the sync thread for it.
        if message["type"] == "stream.event":
            await self.stream_event(message)
        else:
            await super().dispatch(message)

    async def stream_event(self, message: dict[str, Any]) -> None:
        event = message.get("event")
        if event in WEBCHAT_FORWARDED_EVENTS:
            await self.send_json({"type": event, "data": message.get("data", {})})
