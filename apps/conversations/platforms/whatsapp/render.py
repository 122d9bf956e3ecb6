"""Reply → WhatsApp Cloud API message objects (text, interactive buttons ≤ 3, list, image)."""

from __future__ import annotations

from typing import Any

from apps.conversations.platforms.base import Reply


def _receipt_text(reply: Reply) -> str:
    r = reply.receipt
    if r is None:
        return ""
    parts = [f"{r.amount} {r.currency}", r.status]
    if r.rail:
        parts.append(r.rail.upper())
    if r.payee:
        parts.append(r.payee)
    return "\n🧾 " + " · ".join(parts) + (f"\nRef: {r.reference}" if r.reference else "")


def whatsapp_messages(reply: Reply, *, to: str) -> list[dict[str, Any]]:
    """The message objects to POST to ``/<phone_number_id>/messages``, in order.

    A QR code is an ``image`` message whose ``image.png`` (bytes, base64 in the
    JSON) the client uploads to ``/<phone_number_id>/media`` first.
    """
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    body = (reply.text + _receipt_text(reply) + (f"\n{reply.link}" if reply.link else ""))[:4096]
    messages: list[dict[str, Any]] = []
    choices = [(b.token, b.label, "") for b in reply.buttons] + [
        (o.token, o.title, o.description) for o in reply.options
    ]
    if choices and len(choices) <= 3 and not reply.options:
        messages.append(
            {
                **base,
                "type": "interactive",
                "interactive": {
                    "type": "button",
                    "body": {"text": body[:1024]},
                    "action": {
                        "buttons": [
                            {"type": "reply", "reply": {"id": token, "title": label[:20]}}
                            for token, label, _ in choices
                        ]
                    },
                },
            }
        )
    elif choices:
        messages.append(
            {
                **base,
                "type": "interactive",
                "interactive": {
                    "type": "list",
                    "body": {"text": body[:4096]},
                    "action": {
                        "button": (reply.options_title or "Options")[:20],
                        "sections": [
                            {
                                "title": (reply.options_title or "Options")[:24],
                                "rows": [
                                    {"id": token, "title": label[:24], "description": desc[:72]}
                                    for token, label, desc in choices[:10]
                                ],
                            }
                        ],
                    },
                },
            }
        )
    else:
        messages.append({**base, "type": "text", "text": {"body": body, "preview_url": bool(reply.link)}})
    if reply.qr:
        # the code itself first (PIX "copia e cola"), then its picture
        messages.append({**base, "type": "text", "text": {"body": reply.qr, "preview_url": False}})
        messages.append({**base, "type": "image", "image": {"qr": reply.qr, "caption": "PIX QR"}})
    return messages
