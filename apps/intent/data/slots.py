"""Slot fillers for the corpus generator: amounts, dates, names and identifiers with their gold values.

The reference time of every corpus line is ``NOW`` (a Tuesday, São Paulo time), so the gold date of
"tomorrow" is 2026-03-11 and "Friday" is 2026-03-13.
"""

from __future__ import annotations

import random
from decimal import Decimal

NOW = "2026-03-10T12:00:00-03:00"

Gold = dict  # {"amount": "50.00"|None, "currency": ..., "date": ..., "party": ...}


def _fmt(v: Decimal, lang: str) -> str:
    s = f"{v:,.2f}" if v != v.to_integral() else f"{int(v):,}"
    if lang in ("pt", "es"):
        s = s.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return s


_VALUES = [
    5,
    8,
    12,
    15,
    20,
    25,
    30,
    35,
    40,
    45,
    50,
    60,
    70,
    75,
    80,
    90,
    100,
    120,
    150,
    180,
    200,
    250,
    300,
    350,
    400,
    450,
    500,
    600,
    750,
    800,
    1000,
    1200,
    1500,
    2000,
    2500,
    3000,
]
_FRACTIONS = ["19.99", "1234.50", "3.50", "12.75", "49.90", "89.90", "1250.40", "7.25"]
_WORDS = {
    "en": {20: "twenty", 30: "thirty", 50: "fifty", 100: "a hundred", 40: "forty", 200: "two hundred"},
    "pt": {20: "vinte", 30: "trinta", 50: "cinquenta", 100: "cem", 40: "quarenta", 1000: "mil"},
    "es": {20: "veinte", 30: "treinta", 50: "cincuenta", 100: "cien", 1000: "mil", 2000: "dos mil"},
}


def _value(rng: random.Random) -> Decimal:
    if rng.random() < 0.15:
        return Decimal(rng.choice(_FRACTIONS))
    return Decimal(rng.choice(_VALUES))


def amount(rng: random.Random, lang: str) -> tuple[str, Decimal, str | None]:
    """(text, value, currency) in a format people of ``lang`` use."""
    v = _value(rng)
    f = _fmt(v, lang)
    whole = v == v.to_integral()
    roll = rng.random()
    if roll < 0.08 and whole and int(v) in _WORDS[lang]:
        word = _WORDS[lang][int(v)]
        cur = {
            "en": rng.choice([("bucks", "USD"), ("dollars", "USD"), ("reais", "BRL"), ("euros", "EUR")]),
            "pt": rng.choice([("reais", "BRL"), ("conto", "BRL"), ("dólares", "USD")]),
            "es": rng.choice([("pesos", "MXN"), ("euros", "EUR"), ("dólares", "USD")]),
        }[lang]
        return f"{word} {cur[0]}", v, cur[1]
    if roll < 0.14 and whole and int(v) >= 1000 and int(v) % 500 == 0:
        k = v / 1000
        ks = _fmt(k, lang) if k != k.to_integral() else str(int(k))
        by_lang: dict[str, list[tuple[str, str | None]]] = {
            "en": [(f"${ks}k", "USD"), (f"{ks}k USD", "USD"), (f"{ks}k bucks", "USD")],
            "pt": [(f"{ks} mil reais", "BRL"), (f"R$ {ks} mil", "BRL"), (f"{ks}k", None)],
            "es": [(f"{ks} mil pesos", "MXN"), (f"{ks} mil euros", "EUR"), (f"${ks} mil", "MXN")],
        }
        t, c = rng.choice(by_lang[lang])
        return t, v, c
    table = {
        "en": [
            (f"${f}", "USD", 6),
            (f"{f} bucks", "USD", 2 if whole else 0),
            (f"{f} dollars", "USD", 2),
            (f"USD {f}", "USD", 1),
            (f"US${f}", "USD", 1),
            (f"€{f}", "EUR", 2),
            (f"£{f}", "GBP", 2),
            (f"A${f}", "AUD", 1),
            (f"{f} AUD", "AUD", 1),
            (f"{f} USDC", "USDC", 1),
            (f"{f} EUR", "EUR", 1),
            (f"R${f}", "BRL", 1),
            (f"{f} reais", "BRL", 1),
        ],
        "pt": [
            (f"R$ {f}", "BRL", 5),
            (f"R${f}", "BRL", 3),
            (f"{f} reais", "BRL", 4),
            (f"{f} conto", "BRL", 2 if whole else 0),
            (f"{f} pila", "BRL", 1 if whole else 0),
            (f"{f} paus", "BRL", 1 if whole else 0),
            (f"R$ {f}" if not whole else f"R$ {f},00", "BRL", 2),
            (f"US$ {f}", "USD", 1),
            (f"{f} dólares", "USD", 1),
            (f"€ {f}", "EUR", 1),
            (f"{f} USDC", "USDC", 1),
            (f"${f}", "BRL", 1),
        ],
        "es": [
            (f"{f} euros", "EUR", 4),
            (f"€{f}", "EUR", 2),
            (f"{f} €", "EUR", 2),
            (f"${f}", "MXN", 3),
            (f"{f} pesos", "MXN", 4),
            (f"MXN {f}", "MXN", 1),
            (f"US$ {f}", "USD", 1),
            (f"{f} dólares", "USD", 2),
            (f"{f} USD", "USD", 1),
            (f"{f} USDC", "USDC", 1),
            (f"{f} reales", "BRL", 1),
        ],
    }[lang]
    choices = [(t, c) for t, c, w in table for _ in range(w)]
    t, c = rng.choice(choices)
    return t, v, c


def bare(rng: random.Random, lang: str) -> tuple[str, Decimal, None]:
    v = Decimal(rng.choice([20, 30, 50, 80, 100, 150, 200, 300]))
    return str(int(v)), v, None


DATES = {
    "en": [
        ("tomorrow", "2026-03-11"),
        ("today", "2026-03-10"),
        ("on Friday", "2026-03-13"),
        ("next Monday", "2026-03-16"),
        ("on the 15th", "2026-03-15"),
        ("March 20", "2026-03-20"),
        ("April 5th", "2026-04-05"),
        ("at the end of the month", "2026-03-31"),
        ("in 3 days", "2026-03-13"),
        ("next week", "2026-03-16"),
        ("tmrw", "2026-03-11"),
        ("on Thursday", "2026-03-12"),
        ("the day after tomorrow", "2026-03-12"),
        ("on 3/20", "2026-03-20"),
    ],
    "pt": [
        ("amanhã", "2026-03-11"),
        ("hoje", "2026-03-10"),
        ("na sexta", "2026-03-13"),
        ("segunda que vem", "2026-03-16"),
        ("dia 15", "2026-03-15"),
        ("20 de março", "2026-03-20"),
        ("5 de abril", "2026-04-05"),
        ("no fim do mês", "2026-03-31"),
        ("daqui a 3 dias", "2026-03-13"),
        ("semana que vem", "2026-03-16"),
        ("amanha", "2026-03-11"),
        ("quinta", "2026-03-12"),
        ("depois de amanhã", "2026-03-12"),
        ("dia 20/03", "2026-03-20"),
    ],
    "es": [
        ("mañana", "2026-03-11"),
        ("hoy", "2026-03-10"),
        ("el viernes", "2026-03-13"),
        ("el próximo lunes", "2026-03-16"),
        ("el día 15", "2026-03-15"),
        ("el 20 de marzo", "2026-03-20"),
        ("el 5 de abril", "2026-04-05"),
        ("a fin de mes", "2026-03-31"),
        ("en 3 días", "2026-03-13"),
        ("la semana que viene", "2026-03-16"),
        ("manana", "2026-03-11"),
        ("el jueves", "2026-03-12"),
        ("pasado mañana", "2026-03-12"),
        ("el 20/03", "2026-03-20"),
    ],
}
DEADLINES = {
    "en": [
        ("by Friday", "2026-03-13"),
        ("before the 15th", "2026-03-15"),
        ("by tomorrow", "2026-03-11"),
        ("no later than March 20", "2026-03-20"),
    ],
    "pt": [
        ("até sexta", "2026-03-13"),
        ("até dia 15", "2026-03-15"),
        ("até amanhã", "2026-03-11"),
        ("antes do dia 20", "2026-03-20"),
    ],
    "es": [
        ("antes del viernes", "2026-03-13"),
        ("hasta el día 15", "2026-03-15"),
        ("para mañana", "2026-03-11"),
        ("a más tardar el 20 de marzo", "2026-03-20"),
    ],
}
NAMES_TRAIN = {
    "en": ["John", "Sarah", "Mike", "Emily", "David", "Jess", "Chris", "Olivia"],
    "pt": ["Ana", "Pedro", "Lucas", "Mariana", "Rafael", "Bia", "Gustavo", "Fernanda"],
    "es": ["Carlos", "Lucía", "Diego", "Sofía", "Javier", "Camila", "Pablo", "Elena"],
}
NAMES_TEST = {
    "en": ["Tom", "Rachel", "Kevin", "Laura"],
    "pt": ["Felipe", "Juliana", "Thiago", "Carla"],
    "es": ["Andrés", "Valentina", "Mateo", "Paula"],
}
MENTIONS_TRAIN = ["@joao", "@mari", "@dani_s", "@carlos99", "@jen"]
MENTIONS_TEST = ["@bruno", "@lau", "@pepe", "@rick_m"]
PURPOSES = {
    "en": [
        "the logo design",
        "dinner",
        "the concert tickets",
        "rent",
        "the groceries",
        "the Uber",
        "the website",
        "last night's pizza",
        "the hotel",
        "the birthday gift",
    ],
    "pt": [
        "o aluguel",
        "a janta",
        "o ingresso",
        "o mercado",
        "o Uber",
        "o site",
        "a pizza de ontem",
        "o presente",
        "a gasolina",
        "o churrasco",
    ],
    "es": [
        "el alquiler",
        "la cena",
        "las entradas",
        "el súper",
        "el Uber",
        "la web",
        "la pizza de anoche",
        "el regalo",
        "la gasolina",
        "el asado",
    ],
}
COUNTS = {"en": ["2", "3", "4", "three", "two"], "pt": ["2", "3", "4", "três"], "es": ["2", "3", "4", "tres"]}
COUNT_VALUES = {"2": 2, "3": 3, "4": 4, "three": 3, "two": 2, "três": 3, "tres": 3}


def valid_cpf(rng: random.Random) -> str:
    digits = [rng.randint(0, 9) for _ in range(9)]
    for n in (10, 11):
        s = sum(d * w for d, w in zip(digits, range(n, 1, -1), strict=False)) % 11
        digits.append(0 if s < 2 else 11 - s)
    raw = "".join(map(str, digits))
    return f"{raw[:3]}.{raw[3:6]}.{raw[6:9]}-{raw[9:]}" if rng.random() < 0.6 else raw


IBANS = [
    "DE89 3704 0044 0532 0130 00",
    "GB82 WEST 1234 5698 7654 32",
    "FR14 2004 1010 0505 0001 3M02 606",
    "ES91 2100 0418 4502 0005 1332",
    "PT50 0002 0123 1234 5678 9015 4",
    "NL91ABNA0417164300",
]
EVPS = [
    "123e4567-e89b-12d3-a456-426614174000",
    "7d9f0335-8dcc-4054-9bf9-0c3b5d3b1a2e",
    "f47ac10b-58cc-4372-a567-0e02b2c3d479",
]
