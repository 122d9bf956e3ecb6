"""Name normalisation for screening: accents, transliteration, honorifics, company suffixes, word order."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Letters NFKD does not decompose, plus Cyrillic and Greek, mapped to ASCII
# (a small, predictable subset of what unidecode does).
_TRANSLIT = {
    "ß": "ss",
    "ø": "o",
    "æ": "ae",
    "œ": "oe",
    "ł": "l",
    "đ": "d",
    "ð": "d",
    "þ": "th",
    "ı": "i",
    "ħ": "h",
    "ŧ": "t",
    "ŋ": "ng",
    "ʼ": "",
    "'": "",
    "`": "",
    "’": "",
    "‘": "",
    # Cyrillic (ISO 9 / BGN-like)
    "а": "a",
    "б": "b",
    "в": "v",
    "г": "g",
    "д": "d",
    "е": "e",
    "ё": "e",
    "ж": "zh",
    "з": "z",
    "и": "i",
    "й": "y",
    "к": "k",
    "л": "l",
    "м": "m",
    "н": "n",
    "о": "o",
    "п": "p",
    "р": "r",
    "с": "s",
    "т": "t",
    "у": "u",
    "ф": "f",
    "х": "kh",
    "ц": "ts",
    "ч": "ch",
    "ш": "sh",
    "щ": "shch",
    "ъ": "",
    "ы": "y",
    "ь": "",
    "э": "e",
    "ю": "yu",
    "я": "ya",
    "і": "i",
    "ї": "yi",
    "є": "ye",
    "ґ": "g",
    # Greek
    "α": "a",
    "β": "v",
    "γ": "g",
    "δ": "d",
    "ε": "e",
    "ζ": "z",
    "η": "i",
    "θ": "th",
    "ι": "i",
    "κ": "k",
    "λ": "l",
    "μ": "m",
    "ν": "n",
    "ξ": "x",
    "ο": "o",
    "π": "p",
    "ρ": "r",
    "σ": "s",
    "ς": "s",
    "τ": "t",
    "υ": "y",
    "φ": "f",
    "χ": "ch",
    "ψ": "ps",
    "ω": "o",
}
_TRANSLIT_TABLE = str.maketrans(_TRANSLIT)

HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "dr",
        "prof",
        "sir",
        "dame",
        "lord",
        "lady",
        "sr",
        "sra",
        "srta",
        "dona",
        "don",
        "dom",
        "herr",
        "frau",
        "mme",
        "mlle",
        "sheikh",
        "shaikh",
        "sheik",
        "haji",
        "hajji",
        "hadji",
        "mullah",
        "maulana",
        "general",
        "gen",
        "col",
        "colonel",
        "capt",
        "captain",
        "lt",
        "major",
        "admiral",
        "president",
        "minister",
        "ambassador",
        "rev",
        "father",
    ]
)
COMPANY_SUFFIXES = frozenset(
    [
        "ltd",
        "ltda",
        "limited",
        "llc",
        "llp",
        "lp",
        "plc",
        "inc",
        "incorporated",
        "corp",
        "corporation",
        "co",
        "company",
        "cia",
        "gmbh",
        "ag",
        "kg",
        "sa",
        "sas",
        "sarl",
        "srl",
        "spa",
        "bv",
        "nv",
        "oy",
        "ab",
        "as",
        "asa",
        "aps",
        "jsc",
        "ojsc",
        "pjsc",
        "cjsc",
        "ooo",
        "zao",
        "oao",
        "fze",
        "fzco",
        "fzc",
        "fzllc",
        "pte",
        "pty",
        "bhd",
        "sdn",
        "kk",
        "holding",
        "holdings",
        "group",
        "me",
        "eireli",
        "epp",
        "mei",
    ]
)
_SPLIT = re.compile(r"[^0-9a-z]+")


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Lower-case ASCII with accents stripped and other scripts transliterated."""
    text = text.casefold().translate(_TRANSLIT_TABLE)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if not unicodedata.combining(c)).translate(_TRANSLIT_TABLE)


@lru_cache(maxsize=65536)
def name_tokens(name: str) -> tuple[str, ...]:
    """Meaningful tokens of a name: folded, honorifics and company suffixes dropped.

    Single letters are kept only when they are all we have (initials carry little).
    """
    raw = [t for t in _SPLIT.split(fold(name)) if t]
    tokens = [t for t in raw if t not in HONORIFICS and t not in COMPANY_SUFFIXES]
    if not tokens:
        tokens = raw
    longer = [t for t in tokens if len(t) > 1]
    return tuple(longer or tokens)


def normalize_name(name: str) -> str:
    """Tokens sorted alphabetically: word order no longer matters."""
    return " ".join(sorted(name_tokens(name)))


_PHONETIC_MAP = str.maketrans(
    {
        "b": "p",
        "f": "p",
        "v": "p",
        "w": "",
        "h": "",
        "y": "",
        "c": "k",
        "g": "k",
        "j": "k",
        "q": "k",
        "x": "k",
        "z": "s",
        "d": "t",
        "m": "n",
        "a": "",
        "e": "",
        "i": "",
        "o": "",
        "u": "",
    }
)


@lru_cache(maxsize=65536)
def phonetic_key(token: str) -> str:
    """A coarse consonant skeleton ("mohammed", "muhamad" → "m_nt"): catches vowel and doubling variants."""
    if not token:
        return ""
    first = token[0].translate(_PHONETIC_MAP) or "v"
    rest = token[1:].replace("ph", "f").replace("kh", "k").replace("sh", "s").replace("th", "t")
    skeleton = rest.translate(_PHONETIC_MAP)
    squeezed: list[str] = []
    for ch in skeleton:
        if not squeezed or squeezed[-1] != ch:
            squeezed.append(ch)
    return f"{first}_{''.join(squeezed)[:4]}"
