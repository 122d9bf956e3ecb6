"""Multi-turn context: what earlier messages left behind ("the $400 offer", "John", a pending payment).

The dict lives in ``Conversation.context`` (JSON). Every item carries ``expires_at`` so a "yes" an hour
later does not confirm a stale payment.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from apps.intent.registry import INTENTS
from apps.intent.types import IntentResult

CONTEXT_VERSION = 1
_KEYS = ("currency", "last_amount", "last_party", "pending", "last_intent")


def _parse(ts: Any) -> datetime | None:
    if not isinstance(ts, str):
        return None
    try:
        return datetime.fromisoformat(ts)
    except ValueError:
        return None


def context_item(context: dict[str, Any] | None, key: str, *, now: datetime) -> dict[str, Any] | None:
    """The live (unexpired) item ``key`` of ``context``, else None."""
    if not context or not isinstance(context, dict):
        return None
    item = context.get(key)
    if not isinstance(item, dict):
        return None
    expires = _parse(item.get("expires_at"))
    if expires is None or (expires.tzinfo is not None and now.tzinfo is not None and expires <= now):
        return None
    return item


def context_update(
    context: dict[str, Any] | None, result: IntentResult, *, now: datetime, ttl_seconds: int | None = None
) -> dict[str, Any]:
    """The context after ``result``; a new dict (the input is not mutated), JSON-serialisable."""
    from apps.intent import conf

    ttl = timedelta(seconds=ttl_seconds if ttl_seconds is not None else conf.context_ttl())
    expires = (now + ttl).isoformat()
    base = dict(context) if isinstance(context, dict) else {}
    out: dict[str, Any] = {k: v for k, v in base.items() if k not in _KEYS}
    for key in _KEYS:
        live = context_item(base, key, now=now)
        if live is not None:
            out[key] = live
    out["v"] = CONTEXT_VERSION
    out["updated_at"] = now.isoformat()
    amount = result.amount
    if amount is not None:
        out["last_amount"] = {
            "value": str(amount.value),
            "currency": amount.currency,
            "intent": result.intent,
            "expires_at": expires,
        }
        if amount.currency:
            out["currency"] = {"value": amount.currency, "expires_at": expires}
    party = next((p for p in result.parties if p.kind != "pronoun"), None)
    if party is not None:
        out["last_party"] = {
            "kind": party.kind,
            "value": party.value,
            "subkind": party.subkind,
            "expires_at": expires,
        }
    if result.intent != "none":
        out["last_intent"] = {"value": result.intent, "expires_at": expires}
    spec = INTENTS.get(result.intent)
    if result.intent in ("confirm", "decline", "cancel_or_refund"):
        out.pop("pending", None)
    elif spec is not None and spec.needs_confirmation and amount is not None:
        out["pending"] = {
            "intent": result.intent,
            "amount": str(amount.value),
            "currency": amount.currency,
            "party": party.to_dict() if party is not None else (out.get("last_party") or None),
            "recurrence": result.recurrence,
            "dates": [d.to_dict() for d in result.dates],
            "created_at": now.isoformat(),
            "expires_at": expires,
        }
    return out
