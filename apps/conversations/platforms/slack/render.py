"""Reply → Slack Block Kit (section, actions with buttons, option rows, image/QR, receipt)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.conversations.platforms.base import Reply


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters, escaped as its docs ask: a payee name or a reviewer's
    question with ``<@U…>`` or ``<https://…|…>`` stays text, never a mention or a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_text(reply: Reply) -> str:
    """The message's ``text`` (notification and fallback; also parsed as mrkdwn)."""
    return mrkdwn_escape(reply.text)


def slack_blocks(reply: Reply, *, qr_url: str = "") -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn_escape(reply.text)[:3000]}}
    ]
    for i, o in enumerate(reply.options):
        title, description = mrkdwn_escape(o.title), mrkdwn_escape(o.description)
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{title}*\n{description}"[:3000]},
                "accessory": {
                    "type": "button",
                    "action_id": f"agentpay_option_{i}",
                    "text": {"type": "plain_text", "text": "Choose"},
                    "value": o.token,
                },
            }
        )
    if reply.buttons:
        elements = []
        for i, b in enumerate(reply.buttons):
            element: dict[str, Any] = {
                "type": "button",
                "action_id": f"agentpay_{b.action}_{i}",
                "text": {"type": "plain_text", "text": b.label[:75]},
                "value": b.token,
            }
            if b.style in ("primary", "danger"):
                element["style"] = b.style
            elements.append(element)
        blocks.append({"type": "actions", "elements": elements})
    if reply.qr:
        if qr_url:
            blocks.append({"type": "image", "image_url": qr_url, "alt_text": "PIX QR code"})
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```{reply.qr}```"}})
    if reply.link:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"<{reply.link}|{reply.link}>"}})
    r = reply.receipt
    if r is not None:
        fields = [f"*Amount*\n{r.amount} {r.currency}", f"*Status*\n{r.status}"]
        if r.rail:
            fields.append(f"*Rail*\n{r.rail.upper()}")
        if r.reference:
            fields.append(f"*Reference*\n{r.reference}")
        blocks.append({"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]})
    return blocks


def qr_public_url(outbound_id: str) -> str:
    return f"{settings.AGENTPAY_PUBLIC_URL.rstrip('/')}/api/v1/conversations/replies/{outbound_id}/qr.png"
