"""Reply → Telegram Bot API calls (HTML parse_mode, inline keyboards, sendPhoto for QR codes)."""

from __future__ import annotations

import html
from typing import Any

from apps.conversations.platforms.base import Reply


def _html(reply: Reply) -> str:
    text = html.escape(reply.text)
    r = reply.receipt
    if r is not None:
        text += f"\n\n🧾 <b>{html.escape(r.amount)} {html.escape(r.currency)}</b> · {html.escape(r.status)}"
        if r.rail:
            text += f" · {html.escape(r.rail.upper())}"
        if r.reference:
            text += f"\nRef: <code>{html.escape(r.reference)}</code>"
    if reply.qr:
        text += f"\n\n<code>{html.escape(reply.qr)}</code>"
    return text


def inline_keyboard(reply: Reply) -> dict[str, Any] | None:
    rows: list[list[dict[str, str]]] = []
    if reply.buttons:
        rows.append([{"text": b.label, "callback_data": b.token} for b in reply.buttons])
    for o in reply.options:
        label = f"{o.title} — {o.description}" if o.description else o.title
        rows.append([{"text": label[:64], "callback_data": o.token}])
    if reply.link:
        rows.append([{"text": str(reply.metadata.get("link_label") or "Pay"), "url": reply.link}])
    return {"inline_keyboard": rows} if rows else None


def telegram_calls(
    reply: Reply, *, chat_id: str, edit_message_id: str = ""
) -> list[tuple[str, dict[str, Any]]]:
    """``(method, params)`` to call in order. A QR code is a ``sendPhoto`` with the PNG."""
    text = _html(reply)
    markup = inline_keyboard(reply)
    if reply.qr:
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "caption": text[:1024],
            "parse_mode": "HTML",
            "qr": reply.qr,
        }
        if markup:
            params["reply_markup"] = markup
        return [("sendPhoto", params)]
    params = {"chat_id": chat_id, "text": text[:4096], "parse_mode": "HTML"}
    if markup:
        params["reply_markup"] = markup
    if edit_message_id:
        return [("editMessageText", {**params, "message_id": int(edit_message_id)})]
    return [("sendMessage", params)]
