"""Reading the intent engine's result (contract 1) into what flows need."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from apps.conversations.models import Conversation

IDENTIFIER_KINDS = ("pix_key", "iban", "bic", "payid", "bsb_account", "eth_address", "email", "phone")
CONFIRM_WORDS = {"yes", "y", "sim", "si", "sí", "ok", "confirm", "confirmar", "confirmo", "yes please", "👍"}
DECLINE_WORDS = {"no", "não", "nao", "cancel", "cancelar", "stop", "cancela"}


def amount_of(intent: Any, *, role: str | None = None) -> tuple[Decimal | None, str | None]:
    if intent is None:
        return None, None
    if role:
        entity = next((a for a in getattr(intent, "amounts", []) or [] if a.role == role), None)
    else:
        entity = getattr(intent, "amount", None)
    if entity is None:
        return None, None
    return Decimal(str(entity.value)), entity.currency


def intent_name(intent: Any, text: str = "") -> str:
    """The intent, with exact confirm/decline words recognised even when no engine is configured."""
    name = str(getattr(intent, "intent", "none") or "none")
    word = text.strip().lower().rstrip("!.")
    if name == "none" and word in CONFIRM_WORDS:
        return "confirm"
    if name == "none" and word in DECLINE_WORDS:
        return "decline"
    return name


def participant_match(conversation: Conversation, name: str) -> dict[str, str] | None:
    wanted = name.strip().lstrip("@").lower()
    if not wanted:
        return None
    for p in conversation.participants or []:
        pid, pname = str(p.get("id", "")), str(p.get("name", "")).lower()
        if wanted in (pid.lower(), pname) or (pname and pname.split()[0] == wanted):
            return {"id": pid, "name": str(p.get("name", "")) or pid}
    return None


# "pay ana R$ 30": a lower-case name the engine did not tag as a party
_PAY_TO = re.compile(
    r"\b(?:pay|send|pague|paga|pagar|envie|envía|manda)\s+(?:to\s+|para\s+(?:[ao]\s+)?|a\s+)?"
    r"(?P<name>[^\W\d_]{2,})\b",
    re.IGNORECASE,
)
_NOT_NAMES = {
    "me",
    "you",
    "him",
    "her",
    "them",
    "it",
    "the",
    "my",
    "mi",
    "meu",
    "minha",
    "rent",
    "aluguel",
    "alquiler",
}


def name_after_pay(text: str) -> str:
    match = _PAY_TO.search(text or "")
    name = match.group("name") if match else ""
    return "" if name.lower() in _NOT_NAMES else name


def payee_of(intent: Any, conversation: Conversation, text: str = "") -> dict[str, Any]:
    """``payee_name``, ``payee_ref``, ``payee_identifiers``, ``payee_country`` from the parties
    (or, failing those, the word after "pay" in ``text``)."""
    out: dict[str, Any] = {"payee_name": "", "payee_ref": "", "payee_identifiers": {}, "payee_country": ""}
    for party in getattr(intent, "parties", []) or []:
        kind, value = party.kind, str(party.value)
        if kind in IDENTIFIER_KINDS:
            if party.valid is False:
                continue
            out["payee_identifiers"][kind] = value
            if kind == "pix_key":
                out["payee_country"] = "BR"
            elif kind == "iban":
                out["payee_country"] = value[:2].upper()
            elif kind in ("payid", "bsb_account"):
                out["payee_country"] = "AU"
        elif kind in ("mention", "name") and not out["payee_name"]:
            match = participant_match(conversation, value)
            out["payee_name"] = match["name"] if match else value
            # a bare name's ref is lower case, as below, so "pague a Ana" and "pay ana" are one payee
            # (and her identifiers are remembered); a mention's is a platform id, kept as it is
            ref = value.lstrip("@")
            out["payee_ref"] = match["id"] if match else (ref.lower() if kind == "name" else ref)
    if not out["payee_name"] and text:
        name = name_after_pay(text)
        if name:
            match = participant_match(conversation, name)
            out["payee_name"] = match["name"] if match else name[:1].upper() + name[1:]
            out["payee_ref"] = match["id"] if match else name.lower()
    if not out["payee_name"]:
        ids = out["payee_identifiers"]
        out["payee_name"] = next(iter(ids.values()), "")
    return out


def mentioned_participants(intent: Any, conversation: Conversation, *, exclude: str) -> list[dict[str, str]]:
    people = []
    for party in getattr(intent, "parties", []) or []:
        if party.kind in ("mention", "name"):
            match = participant_match(conversation, str(party.value)) or {
                "id": str(party.value).lstrip("@"),
                "name": str(party.value),
            }
            if match["id"] != exclude and match not in people:
                people.append(match)
    return people


def other_participant(intent: Any, conversation: Conversation, sender_id: str) -> dict[str, str] | None:
    """ "Te mando R$ 50" in a two-person chat: the pronoun is the other participant."""
    pronoun = any(p.kind == "pronoun" for p in getattr(intent, "parties", []) or [])
    promise = getattr(intent, "intent", "") == "payment_promise"
    others = [p for p in conversation.participants or [] if str(p.get("id")) != sender_id]
    if (pronoun or promise) and len(others) == 1:
        return {"id": str(others[0].get("id")), "name": str(others[0].get("name") or others[0].get("id"))}
    return None


# identifiers a rail cannot pay without (any one of them), and how to ask for them
RAIL_IDENTIFIERS: dict[str, tuple[str, ...]] = {
    "pix": ("pix_key",),
    "payto": ("payid", "bsb_account"),
    "sepa": ("iban",),
    "sepa_instant": ("iban",),
}
IDENTIFIER_LABELS = {
    "pix_key": {"en": "PIX key", "pt": "chave PIX", "es": "clave PIX"},
    "payid": {"en": "PayID", "pt": "PayID", "es": "PayID"},
    "iban": {"en": "IBAN", "pt": "IBAN", "es": "IBAN"},
}


def identifiers_for_rail(rail: str, identifiers: dict[str, str]) -> dict[str, str]:
    """An email or phone given for a PIX payment is the PIX key (both are PIX key types)."""
    if rail == "pix" and not identifiers.get("pix_key"):
        for kind in ("email", "phone"):
            if identifiers.get(kind):
                return {**identifiers, "pix_key": identifiers[kind]}
    return identifiers


def missing_identifier(rail: str, identifiers: dict[str, str]) -> str:
    """The identifier to ask for before paying on ``rail`` ("" when nothing is missing)."""
    needed = RAIL_IDENTIFIERS.get(rail or "", ())
    return "" if not needed or any(identifiers.get(k) for k in needed) else needed[0]


def known_identifiers(conversation: Conversation, *, payee_ref: str, payee_name: str) -> dict[str, str]:
    """The identifiers of the organisation's last payment to this payee (relationship memory)."""
    from apps.payments.models import OrchestrationPayment

    if not (payee_ref or payee_name):
        return {}
    qs = OrchestrationPayment.objects.filter(organization_id=conversation.organization_id).exclude(
        payee_identifiers={}
    )
    qs = qs.filter(payee_ref=payee_ref) if payee_ref else qs.filter(payee_name__iexact=payee_name)
    last = qs.order_by("-created_at").values_list("payee_identifiers", flat=True).first()
    return dict(last or {})
