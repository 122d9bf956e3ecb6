"""Slack Events API and interactivity: request signing (v0) and payload parsing."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any
from urllib.parse import parse_qs

from apps.conversations.platforms.base import InboundMessage

# message subtypes that are not a person writing something new
_IGNORED_SUBTYPES = {
    "bot_message",
    "message_changed",
    "message_deleted",
    "channel_join",
    "channel_leave",
    "message_replied",
}
_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+>\s*")  # "@AgentPay pay ..." addresses the bot


def signature_compute(*, signing_secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()


def signature_valid(
    *, signing_secret: str, timestamp: str, body: bytes, signature: str, window: int, now: float | None = None
) -> bool:
    """Slack's v0 scheme; requests older (or newer) than ``window`` seconds are replays."""
    if not signing_secret or not timestamp or not signature:
        return False
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs((now if now is not None else time.time()) - ts) > window:
        return False
    expected = signature_compute(signing_secret=signing_secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, signature)


def body_parse(body: bytes, content_type: str) -> dict[str, Any]:
    """Events API JSON, interactivity ``payload=<json>`` or a slash command's form fields."""
    if content_type.startswith("application/json"):
        return dict(json.loads(body or b"{}"))
    form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    if "payload" in form:
        return dict(json.loads(form["payload"]))
    if "command" in form:
        return {"type": "slash_command", **form}
    return form


def team_id(payload: dict[str, Any]) -> str:
    team = payload.get("team")
    if isinstance(team, dict):
        return str(team.get("id", ""))
    return str(payload.get("team_id", ""))


def event_key(payload: dict[str, Any]) -> tuple[str, str]:
    """``(event_id, event_type)``: Slack's ``event_id``, or a unique id of the click/command."""
    kind = str(payload.get("type", ""))
    if kind == "event_callback":
        return str(payload.get("event_id", "")), f"event.{(payload.get('event') or {}).get('type', '')}"
    if kind == "block_actions":
        actions = payload.get("actions") or [{}]
        return f"action:{actions[0].get('action_ts', '')}:{payload.get('trigger_id', '')}", kind
    if kind == "slash_command":
        return f"command:{payload.get('trigger_id', '')}", kind
    return "", kind


def payload_parse(payload: dict[str, Any]) -> InboundMessage | None:
    kind = payload.get("type")
    if kind == "event_callback":
        event = payload.get("event") or {}
        if event.get("type") not in ("message", "app_mention"):
            return None
        if event.get("bot_id") or event.get("subtype") in _IGNORED_SUBTYPES:
            return None
        user = str(event.get("user", ""))
        return InboundMessage(
            platform="slack",
            conversation_external_id=str(event.get("channel", "")),
            sender_id=user,
            text=_LEADING_MENTION.sub("", str(event.get("text", ""))).strip(),
            # the same message arrives as ``message`` and ``app_mention``: ts dedupes them
            platform_message_id=str(event.get("ts", "")),
            kind="text",
            participants=[{"id": user, "name": ""}],
            raw=event,
        )
    if kind == "block_actions":
        actor = payload.get("user") or {}
        channel = (payload.get("channel") or {}).get("id") or (payload.get("container") or {}).get(
            "channel_id", ""
        )
        action = (payload.get("actions") or [{}])[0]
        token = action.get("value") or (action.get("selected_option") or {}).get("value", "")
        return InboundMessage(
            platform="slack",
            conversation_external_id=str(channel),
            sender_id=str(actor.get("id", "")),
            sender_name=str(actor.get("name") or actor.get("username") or ""),
            kind="button",
            action_token=str(token),
            platform_message_id=str((payload.get("container") or {}).get("message_ts", "")),
            raw=payload,
        )
    if kind == "slash_command":
        user = str(payload.get("user_id", ""))
        return InboundMessage(
            platform="slack",
            conversation_external_id=str(payload.get("channel_id", "")),
            sender_id=user,
            sender_name=str(payload.get("user_name", "")),
            text=str(payload.get("text", "")),
            kind="command",
            participants=[{"id": user, "name": str(payload.get("user_name", ""))}],
            raw=payload,
        )
    return None
