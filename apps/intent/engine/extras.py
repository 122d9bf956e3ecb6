"""Purpose, urgency and rail hint."""

from __future__ import annotations

import re

_STOP_AFTER = (
    r"(?=$|[,.!?;:]|\s+(?:tomorrow|today|tonight|on|by|next|every|each|please|pls|plz|now|asap|via|and|to|"
    r"amanh[aã]|hoje|at[eé]|agora|todo|toda|todos|todas|cada|por\s+favor|porfa|mañana|manana|hoy|ahora|ya|hasta|"
    r"antes|el\s+\w+es|semana|dia|día|na|no|em|en|com|con|que|pra|pro|para|e|y|de\s+\d|\d)\b|\s+[\d$€£R])"
)
_PURPOSE = {
    "en": re.compile(
        r"\bfor\s+(?P<p>(?:the|my|our|your|a|an|this|that|last\s+night's|his|her)\s+[^\d$€£@,.!?;:]{2,40}?|[a-z][^\d$€£@,.!?;:]{2,30}?)"
        + _STOP_AFTER,
        re.IGNORECASE,
    ),
    "pt": re.compile(
        r"\b(?:pel[oa]s?|referente\s+(?:a|ao|à)|pra\s+pagar|para\s+pagar|d[oa]s?|de)\s+(?P<p>(?:(?:o|a|os|as)\s+)?[a-zà-ü][^\d$€£@,.!?;:]{2,40}?)"
        + _STOP_AFTER,
    ),
    "es": re.compile(
        r"\b(?:por|para\s+pagar|de|del)\s+(?P<p>(?:(?:el|la|los|las)\s+)?[a-zà-ü][^\d$€£@,.!?;:]{2,40}?)"
        + _STOP_AFTER,
    ),
}
_NOT_PURPOSE = frozenset(
    [
        "favor",
        "mim",
        "ti",
        "vc",
        "você",
        "voce",
        "voces",
        "vocês",
        "nós",
        "nos",
        "volta",
        "vuelta",
        "nuevo",
        "novo",
        "acordo",
        "acuerdo",
        "todo",
        "tudo",
        "mes",
        "mês",
        "semana",
        "ontem",
        "ayer",
        "hoje",
        "hoy",
        "amanhã",
        "mañana",
        "us",
        "me",
        "you",
        "him",
        "her",
        "them",
        "it",
        "that",
        "this",
        "tomorrow",
        "today",
        "now",
        "real",
        "sure",
    ]
)
_URGENT = re.compile(
    r"\b(?:urgent|urgente|urgentemente|asap|right\s+now|right\s+away|immediately|now|rn|agora|imediatamente|"
    r"ahora|ahorita|de\s+inmediato|ya\s+mismo|agorinha)\b",
    re.IGNORECASE,
)
_LOW = re.compile(
    r"\b(?:no\s+rush|whenever|when\s+you\s+can|sem\s+pressa|quando\s+puder|sin\s+prisa|cuando\s+puedas|no\s+hurry)\b",
    re.IGNORECASE,
)
_RAIL = re.compile(
    r"\b(?P<r>pix|payto|pay\s?id|stripe|wise|sepa|usdc|crypto|cripto|card|credit\s+card|cart[aã]o|tarjeta)\b",
    re.IGNORECASE,
)
_RAILS = {
    "pix": "pix",
    "payto": "payto",
    "payid": "payto",
    "pay id": "payto",
    "stripe": "stripe",
    "wise": "wise",
    "sepa": "sepa",
    "usdc": "usdc",
    "crypto": "usdc",
    "cripto": "usdc",
    "card": "stripe",
    "credit card": "stripe",
    "cartão": "stripe",
    "cartao": "stripe",
    "tarjeta": "stripe",
}


def purpose_extract(text: str, *, language: str) -> str | None:
    rx = _PURPOSE.get(language, _PURPOSE["en"])
    for m in rx.finditer(text):
        p = m.group("p").strip()
        words = p.split()
        if not words or words[-1].casefold() in _NOT_PURPOSE or words[0].casefold() in _NOT_PURPOSE:
            continue
        if language != "en" and p[:1].isupper():
            continue
        return p
    return None


def urgency_extract(text: str) -> str | None:
    """ "instant" / "low" / None (normal), the values PaymentRequest.urgency takes."""
    if _LOW.search(text):
        return "low"
    if _URGENT.search(text):
        return "instant"
    return None


def rail_hint_extract(text: str) -> str | None:
    m = _RAIL.search(text)
    if not m:
        return None
    return _RAILS.get(re.sub(r"\s+", " ", m.group("r").casefold()))
