"""WhatsApp Cloud API webhooks: signature check and parsing of Meta's payloads.

One POST may carry several messages and statuses; each becomes its own stored
event keyed by the ``wamid`` (statuses by ``wamid`` + status), so Meta's
retries of the same delivery are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from typing import Any

from apps.conversations.platforms.base import InboundMessage, StatusUpdate


def signature_valid(*, app_secret: str, body: bytes, header: str) -> bool:
    """``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body with the app secret>``."""
    if not app_secret or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def phone_number_ids(payload: dict[str, Any]) -> set[str]:
    ids = set()
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            pid = ((change.get("value") or {}).get("metadata") or {}).get("phone_number_id")
            if pid:
                ids.add(str(pid))
    return ids


def events_split(payload: dict[str, Any]) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """``(event_id, event_type, phone_number_id, item)`` for every message and status."""
    for entry in payload.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            pid = str((value.get("metadata") or {}).get("phone_number_id", ""))
            base = {"metadata": value.get("metadata") or {}, "contacts": value.get("contacts") or []}
            for message in value.get("messages") or []:
                yield (
                    str(message.get("id")),
                    f"message.{message.get('type', 'unknown')}",
                    pid,
                    {
                        **base,
                        "message": message,
                    },
                )
            for status in value.get("statuses") or []:
                event_id = f"status:{status.get('id')}:{status.get('status')}"
                yield event_id, f"status.{status.get('status')}", pid, {**base, "status": status}


def _contact_name(item: dict[str, Any], wa_id: str) -> str:
    for contact in item.get("contacts") or []:
        if str(contact.get("wa_id")) == wa_id:
            return str((contact.get("profile") or {}).get("name", ""))
    return ""


def item_parse(item: dict[str, Any]) -> InboundMessage | StatusUpdate | None:
    """One stored item as a normalised message or status; None if there is nothing to do."""
    if "status" in item:
        status = item["status"]
        errors = status.get("errors") or []
        error = "; ".join(f"{e.get('code')}: {e.get('title')}" for e in errors)
        return StatusUpdate(
            provider_message_id=str(status.get("id")), status=str(status.get("status")), error=error
        )
    message = item.get("message")
    if not message:
        return None
    wa_id = str(message.get("from", ""))
    name = _contact_name(item, wa_id)
    kind = str(message.get("type", "unknown"))
    msg = InboundMessage(
        platform="whatsapp",
        conversation_external_id=wa_id,
        sender_id=wa_id,
        sender_name=name,
        platform_message_id=str(message.get("id", "")),
        kind=kind,
        participants=[{"id": wa_id, "name": name}],
        raw=message,
    )
    if kind == "text":
        msg.text = str((message.get("text") or {}).get("body", ""))
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply = interactive.get(interactive.get("type", "")) or {}
        msg.kind = "list" if interactive.get("type") == "list_reply" else "button"
        msg.action_token = str(reply.get("id", ""))
        msg.text = str(reply.get("title", ""))
    elif kind == "button":  # quick reply on a template message
        button = message.get("button") or {}
        msg.action_token = str(button.get("payload", ""))
        msg.text = str(button.get("text", ""))
    elif kind in ("image", "document", "video", "audio", "sticker"):
        media = message.get(kind) or {}
        msg.text = str(media.get("caption", ""))
    elif kind == "location":
        loc = message.get("location") or {}
        msg.text = ""
        msg.title = " ".join(str(loc.get(k, "")) for k in ("name", "address")).strip()
    elif kind == "contacts":
        names = [str((c.get("name") or {}).get("formatted_name", "")) for c in message.get("contacts") or []]
        msg.title = ", ".join(n for n in names if n)
    elif kind == "reaction":
        msg.title = str((message.get("reaction") or {}).get("emoji", ""))
    else:
        msg.kind = "unknown"
    return msg
