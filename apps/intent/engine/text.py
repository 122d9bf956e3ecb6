"""Text normalisation and light language detection (stopword + character scoring, no downloads)."""

from __future__ import annotations

import re
import unicodedata

_WS = re.compile(r"\s+")
_DIGITS = re.compile(r"\d+")

_STOP: dict[str, frozenset[str]] = {
    "en": frozenset(
        [
            "the",
            "you",
            "i",
            "to",
            "my",
            "me",
            "for",
            "it",
            "is",
            "and",
            "of",
            "a",
            "pay",
            "paid",
            "send",
            "sent",
            "owe",
            "will",
            "can",
            "please",
            "your",
            "this",
            "that",
            "did",
            "yes",
            "no",
            "ok",
            "tomorrow",
            "friday",
            "bucks",
            "dollars",
            "each",
            "split",
            "invoice",
            "bill",
            "refund",
            "balance",
            "back",
            "every",
            "month",
            "week",
            "how",
            "much",
            "what",
            "with",
            "i'll",
            "i'm",
            "let's",
            "we",
            "us",
            "him",
            "her",
            "them",
        ]
    ),
    "pt": frozenset(
        [
            "o",
            "a",
            "os",
            "as",
            "você",
            "voce",
            "vc",
            "eu",
            "te",
            "pra",
            "pro",
            "para",
            "de",
            "do",
            "da",
            "dos",
            "das",
            "no",
            "na",
            "em",
            "um",
            "uma",
            "que",
            "não",
            "nao",
            "sim",
            "manda",
            "mando",
            "pago",
            "paguei",
            "pagar",
            "pagou",
            "amanhã",
            "amanha",
            "hoje",
            "sexta",
            "conto",
            "reais",
            "real",
            "cada",
            "mês",
            "mes",
            "fatura",
            "nota",
            "boleto",
            "dividir",
            "divide",
            "racha",
            "rachar",
            "nós",
            "nos",
            "gente",
            "ele",
            "ela",
            "obrigado",
            "valeu",
            "tá",
            "ta",
            "está",
            "esta",
            "é",
            "já",
            "ja",
            "quanto",
            "me",
            "mim",
            "tudo",
            "meu",
            "minha",
            "todo",
            "toda",
            "semana",
            "depois",
        ]
    ),
    "es": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "tú",
            "tu",
            "yo",
            "te",
            "para",
            "de",
            "del",
            "que",
            "no",
            "sí",
            "si",
            "un",
            "una",
            "en",
            "por",
            "mañana",
            "manana",
            "hoy",
            "viernes",
            "pesos",
            "euros",
            "cada",
            "mes",
            "factura",
            "dividir",
            "dividimos",
            "entre",
            "nosotros",
            "él",
            "ella",
            "gracias",
            "está",
            "es",
            "ya",
            "cuánto",
            "cuanto",
            "me",
            "mí",
            "mi",
            "todo",
            "semana",
            "pago",
            "pagar",
            "pagué",
            "pagaste",
            "mando",
            "envío",
            "envio",
            "debo",
            "lunes",
            "cobrar",
            "cuenta",
            "vale",
            "sale",
            "y",
            "al",
            "lo",
            "le",
            "ahora",
            # the verbs and money words of a Spanish payment that share no word with the others
            "a",
            "quiero",
            "pagarle",
            "págale",
            "pagale",
            "mándale",
            "mandale",
            "envíale",
            "enviale",
            "pásale",
            "pasale",
            "hazle",
            "transfiere",
            "reales",
            "dólares",
            "dolares",
            "plata",
            "lana",
        ]
    ),
}
_CHARS: dict[str, str] = {"pt": "ãõçê", "es": "ñ¿¡"}
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?", re.UNICODE)


def normalise(text: str) -> str:
    """Case-folded, NFKC, collapsed whitespace; the cache key and the classifier's input."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def strip_accents(text: str) -> str:
    if text.isascii():  # most chat: nothing to strip
        return text
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def model_text(norm: str) -> str:
    """What the classifier sees: digits collapsed so "$37" and "$1,200" look alike."""
    return _DIGITS.sub("0", norm)


def language_detect(text: str) -> tuple[str, float]:
    """("en"|"pt"|"es"|"und", score). Short or foreign text without evidence is "und"."""
    norm = text.casefold()
    scores = dict.fromkeys(_STOP, 0.0)
    n = 0
    for m in _TOKEN.finditer(norm):
        tok = m.group(0)
        n += 1
        for lang, words in _STOP.items():
            if tok in words:
                scores[lang] += 1.0
    for lang, chars in _CHARS.items():
        scores[lang] += 1.5 * sum(norm.count(c) for c in chars)
    if "r$" in norm:  # a currency, so weaker evidence than a word: Spanish speakers pay in reales too
        scores["pt"] += 0.5
    best = max(scores, key=lambda k: scores[k])
    top = scores[best]
    if top == 0:
        return "und", 0.0
    second = sorted(scores.values())[-2]
    if top == second:
        # Spanish and Portuguese share many words; a tie is not evidence.
        ties = [k for k, v in scores.items() if v == top]
        return ("en" if "en" in ties else ties[0]), 0.3
    return best, min(1.0, (top - second) / max(1, n) + 0.5)


def looks_binary(text: str) -> bool:
    """Control characters or U+FFFD make up a noticeable share: not human text."""
    if not text:
        return False
    sample = text[:4000]
    if sample.isprintable() and "\ufffd" not in sample:  # no control characters at all (C-level check)
        return False
    bad = sum(
        1
        for c in sample
        if (unicodedata.category(c) in ("Cc", "Cs", "Co") and c not in "\n\r\t") or c == "\ufffd"
    )
    return bad / len(sample) > 0.1
