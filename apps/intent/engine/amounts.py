"""Amounts and currencies with character spans."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from apps.intent.engine.numbers import (
    MULT_RE,
    NUMBER_RE,
    WORDNUM_RE,
    apply_multiplier,
    parse_number,
    parse_words,
)
from apps.intent.types import AmountEntity

DOLLAR_FAMILY = frozenset({"USD", "AUD", "CAD", "NZD", "MXN", "ARS", "CLP", "COP", "UYU"})
DOLLAR_WORD_FAMILY = frozenset({"USD", "AUD", "CAD", "NZD"})
PESO_FAMILY = frozenset({"MXN", "ARS", "CLP", "COP", "UYU"})
_SIGN_BY_LANGUAGE = {"en": "USD", "pt": "BRL", "es": "MXN", "und": "USD"}

_SYMBOLS = {
    "us$": "USD",
    "u$": "USD",
    "r$": "BRL",
    "au$": "AUD",
    "a$": "AUD",
    "ca$": "CAD",
    "c$": "CAD",
    "mx$": "MXN",
    "nz$": "NZD",
    "$": "$",
    "€": "EUR",
    "£": "GBP",
}
_CODES = (
    "USDC",
    "USD",
    "BRL",
    "EUR",
    "GBP",
    "AUD",
    "CAD",
    "MXN",
    "ARS",
    "CLP",
    "COP",
    "NZD",
    "CHF",
    "JPY",
    "UYU",
)
_WORDS = {
    "dollar": "DOLLAR",
    "dollars": "DOLLAR",
    "buck": "DOLLAR",
    "bucks": "DOLLAR",
    "dólar": "DOLLAR",
    "dolar": "DOLLAR",
    "dólares": "DOLLAR",
    "dolares": "DOLLAR",
    "dolares americanos": "USD",
    "euro": "EUR",
    "euros": "EUR",
    "pound": "GBP",
    "pounds": "GBP",
    "quid": "GBP",
    "libra": "GBP",
    "libras": "GBP",
    "real": "BRL",
    "reais": "BRL",
    "reales": "BRL",
    "reals": "BRL",
    "conto": "BRL",
    "contos": "BRL",
    "pau": "BRL",
    "paus": "BRL",
    "pila": "BRL",
    "pilas": "BRL",
    "peso": "PESO",
    "pesos": "PESO",
    "usdc": "USDC",
}
SYM = r"(?:US\$|U\$|R\$|AU\$|A\$|CA\$|C\$|MX\$|NZ\$|\$|€|£)"
CODE = r"(?:" + "|".join(_CODES) + r")"
WORD = r"(?:" + "|".join(sorted((re.escape(w) for w in _WORDS), key=len, reverse=True)) + r")"

_AMOUNT = re.compile(
    rf"(?P<sym>{SYM})\s?(?P<n1>{NUMBER_RE})(?P<m1>{MULT_RE})?(?:\s?(?P<c1>{CODE}|{WORD})(?![\w]))?"
    rf"|(?<![\w])(?P<code>{CODE})\s?(?P<n2>{NUMBER_RE})(?P<m2>{MULT_RE})?"
    rf"|(?<![\w$€£.,])(?P<n3>{NUMBER_RE})(?P<m3>{MULT_RE})?\s?(?:de\s)?(?P<c3>€|£|\$|(?:{CODE}|{WORD})(?![\w]))"
    rf"|(?<![\w])(?P<w4>{WORDNUM_RE})\s(?:de\s)?(?P<c4>(?:{WORD}|{CODE})(?![\w]))",
    re.IGNORECASE,
)
# A number with no currency is an amount only right after a money verb ("te mando 50 amanhã").
_BARE = re.compile(
    r"(?:pay|send|sent|owe|transfer|give|pix(?:\sde)?|mando|mandar|manda|mande|pago|pagar|paga|pague|envio|"
    r"envía|envia|devo|debo|cobra|cobrar|cobro|charge|offer|make\sit|faz\spor|fa[cç]o\spor|deixa\spor|"
    r"dou|doy|que\ssean?|te\spaso|passo)\s+"
    r"(?:(?:you|u|him|her|them|te|lhe|le|me|back|o|a|el|la|the|about|around|uns|unos|só|so|solo|only|"
    r"like|por|pra|para|ya)\s+){0,2}"
    rf"(?P<n>{NUMBER_RE})(?![\d.,]\d)(?!\d)(?P<m>{MULT_RE})?"
    r"(?!\s*(?:h\b|hs\b|pm\b|am\b|:|/|%|days?\b|dias?\b|días?\b|ways?\b|people\b|pessoas\b|personas\b|"
    r"vezes\b|veces\b|times\b|x\b|de\s+(?:jan|fev|feb|mar|abr|apr|mai|may|jun|jul|ago|aug|set|sep|out|oct|nov|dez|dic)))",
    re.IGNORECASE,
)
_SPLIT = re.compile(
    r"\b(?:split|splitting|divide|dividir|dividi|dividimos|divida|divid[ií]|racha|rachar|rachamos|racham|"
    r"partir|partimos|reparte|repartir|dividido|dividida|go\s+halves|halves|meio\s+a\s+meio|a\s+medias)\b",
    re.IGNORECASE,
)
_COUNT_WORDS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "dois": 2,
    "duas": 2,
    "três": 3,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "dos": 2,
    "cuatro": 4,
}
_COUNT = re.compile(
    r"(?:(?P<a>\d+|two|three|four|five|six|dois|duas|três|tres|quatro|cinco|seis|dos|cuatro)\s+"
    r"(?:ways|people|of\s+us|pessoas|personas|partes|parts)"
    r"|(?:entre|between|among|by|por|em|en|in|para)\s+(?:n[oó]s\s+|nosotros\s+|us\s+|the\s+|os\s+|las?\s+|los\s+)?"
    r"(?P<b>\d+|two|three|four|five|six|dois|duas|três|tres|quatro|cinco|seis|dos|cuatro)(?!\s*[\d$€£%])(?!\s*(?:h|pm|am|de)\b))",
    re.IGNORECASE,
)
_HALVES = re.compile(
    r"\b(?:go\s+halves|halves|half|meio\s+a\s+meio|metade|a\s+medias|mitad)\b", re.IGNORECASE
)


def money_quantize(value: Decimal) -> Decimal:
    """Two decimals at least (50 → 50.00); keep finer precision when written (0.125 USDC)."""
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        return value
    return value.quantize(Decimal("0.01"))


def _currency_of(token: str | None) -> str | None:
    if not token:
        return None
    t = token.casefold()
    if t in _SYMBOLS:
        return _SYMBOLS[t]
    if t.upper() in _CODES:
        return t.upper()
    return _WORDS.get(t)


def currency_resolve(
    marker: str | None, *, language: str, organization_currency: str | None, context_currency: str | None
) -> str | None:
    """Turn "$", "DOLLAR" and "PESO" into an ISO code: conversation, then organisation, then language."""
    if marker not in ("$", "DOLLAR", "PESO"):
        return marker
    family = {"$": DOLLAR_FAMILY, "DOLLAR": DOLLAR_WORD_FAMILY, "PESO": PESO_FAMILY}[marker]
    for candidate in (context_currency, organization_currency):
        if candidate and candidate.upper() in family:
            return candidate.upper()
    if marker == "$":
        return _SIGN_BY_LANGUAGE.get(language, "USD")
    return "USD" if marker == "DOLLAR" else "MXN"


def _count(text: str) -> tuple[int, int, int] | None:
    if _HALVES.search(text):
        m = _HALVES.search(text)
        assert m is not None
        return 2, m.start(), m.end()
    m = _COUNT.search(text)
    if not m:
        return None
    raw = (m.group("a") or m.group("b")).casefold()
    n = int(raw) if raw.isdigit() else _COUNT_WORDS.get(raw, 0)
    if 2 <= n <= 50:
        return n, m.start(), m.end()
    return None


def amounts_extract(
    text: str,
    *,
    language: str,
    organization_currency: str | None = None,
    context_currency: str | None = None,
) -> list[AmountEntity]:
    found: list[AmountEntity] = []

    def add(value: Decimal | None, marker: str | None, start: int, end: int) -> None:
        if value is None or value <= 0:
            return
        currency = currency_resolve(
            marker,
            language=language,
            organization_currency=organization_currency,
            context_currency=context_currency,
        )
        found.append(
            AmountEntity(
                value=money_quantize(value),
                currency=currency,
                role="amount",
                start=start,
                end=end,
                text=text[start:end],
            )
        )

    for m in _AMOUNT.finditer(text):
        g = m.groupdict()
        if g["n1"] is not None:
            value = parse_number(g["n1"], language=language)
            if value is not None:
                value = apply_multiplier(value, g["m1"])
            marker = _currency_of(g["sym"])
            suffix = _currency_of(g["c1"])
            if suffix and (marker == "$" or suffix == "USDC"):
                # "$20 AUD" / "$50 usdc": the code after the number disambiguates the sign.
                marker = "AUD" if suffix == "DOLLAR" and marker == "$" else suffix
            add(value, marker, m.start(), m.end())
        elif g["n2"] is not None:
            value = parse_number(g["n2"], language=language)
            if value is not None:
                value = apply_multiplier(value, g["m2"])
            add(value, _currency_of(g["code"]), m.start(), m.end())
        elif g["n3"] is not None:
            value = parse_number(g["n3"], language=language)
            if value is not None:
                value = apply_multiplier(value, g["m3"])
            add(value, _currency_of(g["c3"]), m.start(), m.end())
        elif g["w4"] is not None:
            add(parse_words(g["w4"]), _currency_of(g["c4"]), m.start(), m.end())
    if not found:
        for m in _BARE.finditer(text):
            value = parse_number(m.group("n"), language=language)
            if value is not None:
                value = apply_multiplier(value, m.group("m"))
                # No currency written: the pipeline fills it from the conversation, then the organisation.
                add(value, None, m.start("n"), m.end())
    return _assign_roles(text, found)


def _assign_roles(text: str, found: list[AmountEntity]) -> list[AmountEntity]:
    if not found or not _SPLIT.search(text):
        return found
    first = found[0]
    if len(found) >= 2:
        # "$90 total, $30 each": the largest figure is the total, the others are shares.
        largest = max(a.value for a in found)
        return [_with_role(a, "total" if a.value == largest else "share") for a in found]
    total = _with_role(first, "total")
    counted = _count(text)
    if counted is None:
        return [total]
    n, start, end = counted
    share = (first.value / n).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return [
        total,
        AmountEntity(
            value=share, currency=first.currency, role="share", start=start, end=end, text=text[start:end]
        ),
    ]


def _with_role(a: AmountEntity, role: str) -> AmountEntity:
    return AmountEntity(value=a.value, currency=a.currency, role=role, start=a.start, end=a.end, text=a.text)
