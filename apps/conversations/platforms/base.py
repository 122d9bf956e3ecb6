"""One reply model for every platform; each platform renders it its own way.

A flow builds a ``Reply`` (text + buttons + options + QR + receipt + link);
``apps/conversations/platforms/<platform>/render.py`` turns it into the
platform's payload (WhatsApp interactive message, Slack Block Kit, Telegram
inline keyboard, web chat JSON components).

Buttons and options carry a compact ``token`` ``"<action>:<flow_run_id>:<value>"``
(≤ 64 bytes, Telegram's ``callback_data`` limit) that comes back in the
platform's click event and is decoded by ``action_decode``.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

# What a click may ask a flow to do.
ACTIONS = ("confirm", "cancel", "choose", "accept", "counter", "recurring_yes", "recurring_no", "settle")


@dataclass(frozen=True)
class Button:
    """A quick-reply button. ``style`` is a hint ("primary" | "danger" | "")."""

    action: str
    label: str
    run_id: str = ""
    value: str = ""
    style: str = ""

    @property
    def token(self) -> str:
        return action_encode(self.action, self.run_id, self.value)


@dataclass(frozen=True)
class Option:
    """One choice in a list (e.g. a rail with its cost), chosen with ``action`` (default "choose")."""

    value: str
    title: str
    description: str = ""
    run_id: str = ""
    action: str = "choose"

    @property
    def token(self) -> str:
        return action_encode(self.action, self.run_id, self.value)


@dataclass(frozen=True)
class Receipt:
    """A payment receipt card."""

    payment_id: str
    amount: str
    currency: str
    status: str
    rail: str = ""
    payee: str = ""
    reference: str = ""


@dataclass(frozen=True)
class Reply:
    """What AgentPay says: text plus optional interactive parts."""

    text: str
    buttons: tuple[Button, ...] = ()
    options: tuple[Option, ...] = ()
    options_title: str = ""
    qr: str = ""  # a payload to show as a QR code (PIX "copia e cola" EMV)
    link: str = ""  # a payment link / checkout URL
    receipt: Receipt | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(
            text=data.get("text", ""),
            buttons=tuple(Button(**b) for b in data.get("buttons", ())),
            options=tuple(Option(**o) for o in data.get("options", ())),
            options_title=data.get("options_title", ""),
            qr=data.get("qr", ""),
            link=data.get("link", ""),
            receipt=Receipt(**data["receipt"]) if data.get("receipt") else None,
            metadata=dict(data.get("metadata") or {}),
        )


def action_encode(action: str, run_id: str, value: str = "") -> str:
    token = f"{action}:{run_id}:{value}"
    if len(token.encode()) > 64:
        raise ValueError(f"action token too long for Telegram callback_data: {token!r}")
    return token


def action_decode(token: str) -> tuple[str, dict[str, str]] | None:
    """``(action, {"run_id", "value"})`` for a token we issued, else None."""
    parts = (token or "").split(":", 2)
    if len(parts) != 3 or parts[0] not in ACTIONS:
        return None
    return parts[0], {"run_id": parts[1], "value": parts[2]}


def qr_png(data: str, *, scale: int = 6) -> bytes:
    """A PNG of ``data`` as a QR code (segno; error correction M as the BR Code spec recommends)."""
    import io

    import segno

    buf = io.BytesIO()
    segno.make(data, error="m", micro=False).save(buf, kind="png", scale=scale, border=2)
    return buf.getvalue()


@dataclass
class InboundMessage:
    """A platform message or click, normalised. ``action_token`` is set for button/list clicks."""

    platform: str
    conversation_external_id: str
    sender_id: str
    sender_name: str = ""
    text: str = ""
    platform_message_id: str = ""
    kind: str = (
        "text"  # text | button | list | image | document | location | contacts | reaction | command | unknown
    )
    action_token: str = ""
    title: str = ""
    participants: list[dict[str, str]] = field(default_factory=list)
    callback_id: str = ""  # Telegram callback_query id to answer
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def processable(self) -> bool:
        return bool(self.action_token) or (
            bool(self.text.strip()) and self.kind not in ("reaction", "unknown")
        )


@dataclass
class StatusUpdate:
    """A delivery status of a message we sent (WhatsApp ``statuses``)."""

    provider_message_id: str
    status: str  # sent | delivered | read | failed
    error: str = ""


class SendError(Exception):
    """A platform refused or failed a send. ``transient`` ones are retried with backoff."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def http_send_error(status_code: int, body: str) -> SendError:
    """429 and 5xx are worth retrying; other 4xx are permanent."""
    return SendError(f"HTTP {status_code}: {body[:500]}", transient=status_code == 429 or status_code >= 500)


_http_clients: dict[tuple[int, float], httpx.Client] = {}
_http_clients_lock = threading.Lock()


def platform_http(*, timeout: float) -> httpx.Client:
    """The process's shared httpx client for the platforms' APIs (WhatsApp, Telegram).

    Building an ``httpx.Client`` loads the CA bundle into a new SSL context, and a client per reply
    also meant a new TCP + TLS connection per reply: in ``benchmarks/webhooks/drain.py`` building
    the Telegram client was 28 % of a Celery worker's time. One client per process (a new one after
    a fork: prefork workers do not share sockets with their parent) and timeout keeps connections to
    each platform alive across replies; httpx clients are safe to share between threads. Callers pass
    absolute URLs and their own headers (tokens differ per account)."""
    key = (os.getpid(), timeout)
    client = _http_clients.get(key)
    if client is None:
        with _http_clients_lock:
            client = _http_clients.get(key)
            if client is None:
                client = _http_clients[key] = httpx.Client(timeout=timeout)
    return client
