"""Telegram Bot API webhooks: the secret-token header and ``Update`` parsing."""

from __future__ import annotations

import hmac
from typing import Any

from apps.conversations.platforms.base import InboundMessage


def secret_valid(*, expected: str, header: str) -> bool:
    return bool(expected) and hmac.compare_digest(expected.encode(), header.encode())


def _name(user: dict[str, Any]) -> str:
    return " ".join(str(user.get(k, "")) for k in ("first_name", "last_name") if user.get(k)).strip() or str(
        user.get("username", "")
    )


def event_type(update: dict[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "unknown")


def update_parse(update: dict[str, Any]) -> InboundMessage | None:
    if "callback_query" in update:
        query = update["callback_query"]
        user = query.get("from") or {}
        chat = (query.get("message") or {}).get("chat") or {}
        return InboundMessage(
            platform="telegram",
            conversation_external_id=str(chat.get("id", user.get("id", ""))),
            sender_id=str(user.get("id", "")),
            sender_name=_name(user),
            kind="button",
            action_token=str(query.get("data", "")),
            callback_id=str(query.get("id", "")),
            platform_message_id=str((query.get("message") or {}).get("message_id", "")),
            raw=query,
        )
    message = update.get("message")
    if not message:
        return None  # edited_message, channel_post, my_chat_member...: stored, not acted on
    user = message.get("from") or {}
    chat = message.get("chat") or {}
    text = message.get("text") or message.get("caption") or ""
    kind = (
        "text"
        if "text" in message
        else next(
            (k for k in ("photo", "document", "location", "contact", "sticker", "voice") if k in message),
            "unknown",
        )
    )
    if kind in ("photo", "document") and text:
        kind = "image" if kind == "photo" else "document"
    return InboundMessage(
        platform="telegram",
        conversation_external_id=str(chat.get("id", "")),
        sender_id=str(user.get("id", "")),
        sender_name=_name(user),
        text=str(text),
        platform_message_id=str(message.get("message_id", "")),
        kind=kind,
        title=str(chat.get("title", "")),
        participants=[{"id": str(user.get("id", "")), "name": _name(user)}],
        raw=message,
    )
