"""Build apps/intent/data/train.jsonl and test.jsonl.

    python -m apps.intent.data.generate_corpus               # train.jsonl only (test.jsonl untouched)
    python -m apps.intent.data.generate_corpus --with-test   # also rebuild the held-out test.jsonl

Train lines come from templates_train.py (+ hand-written lines), test lines from templates_test.py,
whose phrasings and person names differ, so the test file measures generalisation, not recall of
templates. Lexical variation: amount formats and currencies, dates, names, @mentions, purposes,
identifiers, plus typos, lower-casing, dropped accents, emoji and chatty prefixes. Deterministic (seeded).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import Any

from apps.intent.data import slots
from apps.intent.data.templates_train import HANDWRITTEN_TRAIN, TRAIN

HERE = Path(__file__).resolve().parent
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_PREFIX = {
    "en": ["hey ", "ok so ", "bro ", "hi! ", "yo "],
    "pt": ["oi ", "mano ", "ei ", "então, ", "amigo, "],
    "es": ["oye ", "hola, ", "che ", "bueno, ", "amigo, "],
}
_EMOJI = [" 🙏", " 😅", " 👍", " 💸", " 😂", " !!"]
_LITERAL_DATES = {
    "today": "2026-03-10",
    "hoje": "2026-03-10",
    "hoy": "2026-03-10",
    "yesterday": "2026-03-09",
    "ontem": "2026-03-09",
    "ayer": "2026-03-09",
}
_LITERAL_DATE = re.compile(r"(?<!\w)(?:" + "|".join(_LITERAL_DATES) + r")(?!\w)", re.IGNORECASE)
_ETHS = [
    "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed",
    "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359",
    "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB",
]
_EMAILS = ["ana.silva@gmail.com", "pedro@empresa.com.br", "contato@loja.com"]


def _typo(word: str, rng: random.Random) -> str:
    if len(word) < 4 or not word.isalpha():
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.choice(("swap", "drop", "double"))
    if op == "swap":
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if op == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _render(
    template: str, lang: str, rng: random.Random, names: dict[str, list[str]], mentions: list[str]
) -> dict[str, Any]:
    gold: dict[str, Any] = {"amount": None, "currency": None, "date": None, "party": None}
    # Typos and accent loss touch only the template's own words, so slot gold stays exact.
    literal_parts = _PLACEHOLDER.split(template)
    for i in range(0, len(literal_parts), 2):
        words = literal_parts[i].split(" ")
        if rng.random() < 0.15:
            j = rng.randrange(len(words))
            words[j] = _typo(words[j], rng)
        literal_parts[i] = " ".join(words)
        if lang in ("pt", "es") and rng.random() < 0.15:
            literal_parts[i] = _strip_accents(literal_parts[i])
    first_value: Decimal | None = None
    currency: str | None = None
    out = []
    for i, part in enumerate(literal_parts):
        if i % 2 == 0:
            out.append(part)
            continue
        name = part
        if name == "amt":
            text, value, cur = slots.amount(rng, lang)
            if first_value is None:
                first_value, currency = value, cur
                gold["amount"], gold["currency"] = f"{value:.2f}", cur
            out.append(text)
        elif name == "amt2":
            value = (first_value or Decimal(100)) * Decimal("0.8")
            value = value.quantize(Decimal("1"))
            sym = {
                "USD": "$",
                "EUR": "€",
                "GBP": "£",
                "BRL": "R$ ",
                "MXN": "$",
                "AUD": "A$",
                "USDC": "$",
            }.get(currency or "", "$")
            out.append(f"{sym}{value}")
        elif name == "bare":
            text, value, _ = slots.bare(rng, lang)
            if first_value is None:
                first_value = value
                gold["amount"], gold["currency"] = f"{value:.2f}", None
            out.append(text)
        elif name == "who":
            if rng.random() < 0.35:
                m = rng.choice(mentions)
                gold["party"] = gold["party"] or m[1:]
                out.append(m)
            else:
                n = rng.choice(names[lang])
                gold["party"] = gold["party"] or n
                out.append(n)
        elif name in ("date", "dl"):
            text, iso = rng.choice((slots.DATES if name == "date" else slots.DEADLINES)[lang])
            gold["date"] = gold["date"] or iso
            out.append(text)
        elif name == "purpose":
            out.append(rng.choice(slots.PURPOSES[lang]))
        elif name == "n":
            out.append(rng.choice(slots.COUNTS[lang]))
        elif name == "cpf":
            cpf = slots.valid_cpf(rng)
            gold["party"] = re.sub(r"\D", "", cpf)
            out.append(cpf)
        elif name == "iban":
            iban = rng.choice(slots.IBANS)
            gold["party"] = iban.replace(" ", "")
            out.append(iban)
        elif name == "evp":
            evp = rng.choice(slots.EVPS)
            gold["party"] = evp
            out.append(evp)
        elif name == "eth":
            eth = rng.choice(_ETHS)
            gold["party"] = eth
            out.append(eth)
        elif name == "email":
            email = rng.choice(_EMAILS)
            gold["party"] = email
            out.append(email)
        else:
            raise KeyError(name)
    text = "".join(out)
    if gold["date"] is None:
        # Date words written into the template itself ("pay today", "a pizza de ontem") are gold too.
        for date_match in _LITERAL_DATE.finditer(text):
            gold["date"] = _LITERAL_DATES[date_match.group(0).casefold()]
            break
    if rng.random() < 0.12:
        text = rng.choice(_PREFIX[lang]) + text
    if rng.random() < 0.1:
        text += rng.choice(_EMOJI)
    if rng.random() < 0.08 and gold["party"] is None:
        text = text.lower()
    return {"text": text, "language": lang, **gold}


def _rows(
    table: dict[str, dict[str, list[str]]],
    handwritten: list[tuple],
    *,
    per_template: int,
    seed: int,
    names: dict[str, list[str]],
    mentions: list[str],
) -> list[dict[str, Any]]:
    rng = random.Random(seed)  # noqa: S311 - reproducible corpus, not security
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for intent, by_lang in table.items():
        for lang, templates in by_lang.items():
            for template in templates:
                k = per_template if "{" in template else 2
                for _ in range(k):
                    row = _render(template, lang, rng, names, mentions)
                    if row["text"].casefold() in seen:
                        continue
                    seen.add(row["text"].casefold())
                    rows.append(
                        {
                            "text": row["text"],
                            "language": lang,
                            "intent": intent,
                            "amount": row["amount"],
                            "currency": row["currency"],
                            "date": row["date"],
                            "party": row["party"],
                            "now": slots.NOW,
                            # lines of one template share a group: cross-validation holds them out together
                            "group": hashlib.sha256(f"{intent}|{lang}|{template}".encode()).hexdigest()[:10],
                        }
                    )
    for i, (text, lang, intent, amount, currency, date, party) in enumerate(handwritten):
        rows.append(
            {
                "text": text,
                "language": lang,
                "intent": intent,
                "amount": amount,
                "currency": currency,
                "date": date,
                "party": party,
                "now": slots.NOW,
                "group": f"hand-{i}",
            }
        )
    rng.shuffle(rows)
    return rows


def _write(name: str, rows: list[dict[str, Any]]) -> None:
    with (HERE / name).open("w", encoding="utf-8") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    sys.stdout.write(f"{name}: {len(rows)} lines\n")


def main(argv: list[str] | None = None) -> None:
    """Write train.jsonl; the held-out test.jsonl is rebuilt only with ``--with-test`` (it is frozen:
    rebuilding it would also change which test lines survive the de-duplication against train)."""
    with_test = "--with-test" in (sys.argv[1:] if argv is None else argv)
    train = _rows(
        TRAIN,
        HANDWRITTEN_TRAIN,
        per_template=4,
        seed=3,
        names=slots.NAMES_TRAIN,
        mentions=slots.MENTIONS_TRAIN,
    )
    _write("train.jsonl", train)
    if not with_test:
        return
    from apps.intent.data.templates_test import HANDWRITTEN_TEST, TEST

    test = _rows(
        TEST, HANDWRITTEN_TEST, per_template=3, seed=33, names=slots.NAMES_TEST, mentions=slots.MENTIONS_TEST
    )
    train_texts = {r["text"].casefold() for r in train}
    _write("test.jsonl", [r for r in test if r["text"].casefold() not in train_texts])


if __name__ == "__main__":
    main()
