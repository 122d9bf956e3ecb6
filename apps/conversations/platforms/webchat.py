"""Web chat: replies are broadcast to the conversation's stream group.

AGREED PAYLOAD (Part A sends, Part B renders in the browser). Every reply is
published with ``apps.core.events.event_publish(event_type="reply", ...)`` to
``conversation.<conversation_id>`` (and ``org.<organization_id>``), so a
WebSocket client receives::

    {"type": "stream.event", "event": "reply",
     "data": {"message_id": "<OutboundMessage uuid>",
              "conversation_id": "<Conversation uuid>",
              "text": "plain text, also the fallback for components",
              "components": [ ...see below... ],
              "replaces": "<message_id of an earlier reply this one updates>" | null}}

Components, in display order (only those present are sent)::

    {"type": "text", "text": "..."}
    {"type": "buttons", "buttons": [{"label": "Confirm", "action": "confirm",
                                      "token": "confirm:<run_id>:", "style": "primary" | "danger" | ""}]}
    {"type": "options", "title": "Choose how to pay",
     "options": [{"title": "PIX", "description": "R$ 0.00 fee · seconds",
                  "value": "pix", "action": "choose", "token": "choose:<run_id>:pix"}]}
    {"type": "qr", "format": "pix_emv", "data": "000201...6304ABCD",
     "image": "data:image/png;base64,..."}
    {"type": "link", "url": "https://...", "label": "Pay"}
    {"type": "receipt", "payment_id": "...", "amount": "50.00", "currency": "BRL",
     "status": "succeeded", "rail": "pix", "payee": "João", "reference": "..."}

A click is sent back by the page/consumer as the button's ``token``; the
server calls ``apps.conversations.services.conversation_action(conversation=...,
sender_id=..., action=<token's action>, payload={"token": token})`` (the
service decodes the token; ``payload={"run_id": ..., "value": ...}`` works too).
Typed text goes through ``apps.conversations.services.message_receive(...,
platform="webchat")``. A reply with ``replaces`` updates the earlier card in
place (e.g. the confirmation card becomes "Confirmed ✓").
"""

from __future__ import annotations

import base64
from typing import Any

from apps.conversations.platforms.base import Reply, qr_png


def webchat_components(reply: Reply) -> list[dict[str, Any]]:
    """The reply as the JSON components documented above."""
    components: list[dict[str, Any]] = [{"type": "text", "text": reply.text}]
    if reply.buttons:
        components.append(
            {
                "type": "buttons",
                "buttons": [
                    {"label": b.label, "action": b.action, "token": b.token, "style": b.style}
                    for b in reply.buttons
                ],
            }
        )
    if reply.options:
        components.append(
            {
                "type": "options",
                "title": reply.options_title,
                "options": [
                    {
                        "title": o.title,
                        "description": o.description,
                        "value": o.value,
                        "action": o.action,
                        "token": o.token,
                    }
                    for o in reply.options
                ],
            }
        )
    if reply.qr:
        image = base64.b64encode(qr_png(reply.qr)).decode()
        components.append(
            {"type": "qr", "format": "pix_emv", "data": reply.qr, "image": f"data:image/png;base64,{image}"}
        )
    if reply.link:
        components.append({"type": "link", "url": reply.link, "label": reply.metadata.get("link_label", "")})
    if reply.receipt:
        components.append({"type": "receipt", **reply.receipt.__dict__})
    return components


def webchat_event_data(
    *, message_id: str, conversation_id: str, reply: Reply, replaces: str | None = None
) -> dict[str, Any]:
    """The ``data`` of the ``reply`` stream event."""
    return {
        "message_id": message_id,
        "conversation_id": conversation_id,
        "text": reply.text,
        "components": webchat_components(reply),
        "replaces": replaces,
    }
