"""Numbers as people write them: locale separators, multipliers ("5k", "1.5 mil") and number words."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

NUMBER_RE = (
    r"\d{1,3}(?:[.,\u00a0\u202f]\d{3})+(?:[.,]\d{1,2})?"  # 1,234.56 / 1.234,56 / 1 234,56 (nbsp)
    r"|\d{1,3}(?: \d{3})+,\d{1,2}"  # 1 234,56 with a plain space needs its decimal part
    r"|\d+(?:[.,]\d+)?"
)
MULT_RE = r"(?:\s?(?:k|mil|grand|thousand|mi|million|millones|mill[oó]n|milh[oõ]es|milh[aã]o)(?![\w]))"
_MULT = {
    "k": 1000,
    "mil": 1000,
    "grand": 1000,
    "thousand": 1000,
    "mi": 1_000_000,
    "million": 1_000_000,
    "millones": 1_000_000,
    "millon": 1_000_000,
    "millón": 1_000_000,
    "milhoes": 1_000_000,
    "milhões": 1_000_000,
    "milhao": 1_000_000,
    "milhão": 1_000_000,
}

_UNITS = {
    # en
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    # pt
    "um": 1,
    "uma": 1,
    "dois": 2,
    "duas": 2,
    "três": 3,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "treze": 13,
    "quinze": 15,
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
    "cinquenta": 50,
    "sessenta": 60,
    "setenta": 70,
    "oitenta": 80,
    "noventa": 90,
    "cem": 100,
    "cento": 100,
    "duzentos": 200,
    "trezentos": 300,
    "quinhentos": 500,
    # es
    "uno": 1,
    "un": 1,
    "dos": 2,
    "cuatro": 4,
    "siete": 7,
    "ocho": 8,
    "nueve": 9,
    "diez": 10,
    "once": 11,
    "doce": 12,
    "quince": 15,
    "veinte": 20,
    "treinta": 30,
    "cuarenta": 40,
    "cincuenta": 50,
    "sesenta": 60,
    "ochenta": 80,
    "cien": 100,
    "ciento": 100,
    "doscientos": 200,
    "trescientos": 300,
    "quinientos": 500,
}
_SCALES = {"hundred": 100, "thousand": 1000, "grand": 1000, "mil": 1000, "million": 1_000_000}
_JOINERS = {"and", "e", "y", "-"}
WORDNUM_RE = (
    r"(?:(?:"
    + "|".join(sorted((re.escape(w) for w in list(_UNITS) + list(_SCALES)), key=len, reverse=True))
    + r")(?![\w]))(?:[\s-]+(?:(?:and|e|y)\s+)?(?:"
    + "|".join(sorted((re.escape(w) for w in list(_UNITS) + list(_SCALES)), key=len, reverse=True))
    + r")(?![\w]))*"
)


def parse_words(text: str) -> Decimal | None:
    """ "fifty" → 50, "cinquenta e cinco" → 55, "dos mil" → 2000, "mil" → 1000, "a hundred" → 100."""
    total = 0
    current = 0
    seen = False
    for tok in re.split(r"[\s-]+", text.casefold()):
        if not tok or tok in _JOINERS:
            continue
        if tok in _UNITS:
            current += _UNITS[tok]
            seen = True
        elif tok in _SCALES:
            scale = _SCALES[tok]
            current = (current or 1) * scale
            if scale >= 1000:
                total += current
                current = 0
            seen = True
        else:
            return None
    if not seen:
        return None
    value = total + current
    return Decimal(value) if value > 0 else None


def parse_number(raw: str, *, language: str = "en") -> Decimal | None:
    """Parse digits with either separator convention; the last separator followed by 1-2 digits is decimal."""
    s = raw.replace("\u00a0", " ").replace("\u202f", " ").strip()
    if " " in s:
        s = s.replace(" ", "")
    last_dot, last_comma = s.rfind("."), s.rfind(",")
    if last_dot >= 0 and last_comma >= 0:
        dec = "." if last_dot > last_comma else ","
        grp = "," if dec == "." else "."
        s = s.replace(grp, "").replace(dec, ".")
    elif last_dot >= 0 or last_comma >= 0:
        sep = "." if last_dot >= 0 else ","
        parts = s.split(sep)
        # 1.500 (pt/es) / 1,500 (en): a group of three is thousands.
        thousands = len(parts) > 2 or (len(parts[-1]) == 3 and parts[0] != "0")
        s = s.replace(sep, "") if thousands else s.replace(sep, ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def apply_multiplier(value: Decimal, mult: str | None) -> Decimal:
    if not mult:
        return value
    return value * _MULT.get(mult.strip().casefold(), 1)
