from __future__ import annotations

from decimal import Decimal

import pytest

from apps.intent.engine.amounts import amounts_extract, currency_resolve
from apps.intent.services import message_analyze


def _one(text: str, language: str, **kw: str | None) -> tuple[str, str | None, str]:
    found = amounts_extract(text, language=language, **kw)  # type: ignore[arg-type]
    assert found, f"no amount in {text!r}"
    a = found[0]
    assert text[a.start : a.end] == a.text
    return str(a.value), a.currency, a.text


@pytest.mark.parametrize(
    ("text", "language", "value", "currency", "span"),
    [
        ("te mando 50 conto amanhã", "pt", "50.00", "BRL", "50 conto"),
        ("I'll pay you back the $1,234.50 on Friday", "en", "1234.50", "USD", "$1,234.50"),
        ("divide os R$ 90 entre nós 3", "pt", "90.00", "BRL", "R$ 90"),
        ("can you invoice me for the logo? 500 bucks", "en", "500.00", "USD", "500 bucks"),
        ("pix de 25 reais pro @joao", "pt", "25.00", "BRL", "25 reais"),
        ("€40 for the tickets", "en", "40.00", "EUR", "€40"),
        ("el alquiler son 800 euros cada día 1", "es", "800.00", "EUR", "800 euros"),
        ("fifty reais for lunch", "en", "50.00", "BRL", "fifty reais"),
        ("cinquenta reais do almoço", "pt", "50.00", "BRL", "cinquenta reais"),
        ("son mil pesos", "es", "1000.00", "MXN", "mil pesos"),
        ("dos mil pesos", "es", "2000.00", "MXN", "dos mil pesos"),
        ("it's 5k USD", "en", "5000.00", "USD", "5k USD"),
        ("uns 1.5 mil reais", "pt", "1500.00", "BRL", "1.5 mil reais"),
        ("1,5 mil reais", "pt", "1500.00", "BRL", "1,5 mil reais"),
        ("100 conto", "pt", "100.00", "BRL", "100 conto"),
        ("R$ 1.234,56 no total", "pt", "1234.56", "BRL", "R$ 1.234,56"),
        ("1 234,56 € la factura", "es", "1234.56", "EUR", "1 234,56 €"),
        ("US$ 20 pra você", "pt", "20.00", "USD", "US$ 20"),
        ("A$50 for the BBQ", "en", "50.00", "AUD", "A$50"),
        ("send 100 USDC", "en", "100.00", "USDC", "100 USDC"),
        ("£25 quid", "en", "25.00", "GBP", "£25 quid"),
        ("BRL 300 please", "en", "300.00", "BRL", "BRL 300"),
        ("twenty-five bucks", "en", "25.00", "USD", "twenty-five bucks"),
        ("0.125 USDC", "en", "0.125", "USDC", "0.125 USDC"),
    ],
)
def test_amount_formats(text: str, language: str, value: str, currency: str, span: str) -> None:
    assert _one(text, language) == (value, currency, span)


def test_bare_number_after_a_money_verb_is_an_amount_without_currency() -> None:
    # given a number with no currency next to "mando"
    # when extracted with no organisation or conversation currency
    # then the figure is found, the currency is left unknown
    assert _one("te mando 50 amanhã", "pt") == ("50.00", None, "50")
    # and with an organisation default the currency is filled
    assert message_analyze("te mando 50 amanhã", organization_currency="BRL").amount.currency == "BRL"  # type: ignore[union-attr]


def test_numbers_that_are_not_money_are_ignored() -> None:
    assert amounts_extract("see you at 5pm on the 3rd", language="en") == []
    assert amounts_extract("pay me in 3 days", language="en") == []
    assert amounts_extract("somos 4 pessoas", language="pt") == []


@pytest.mark.parametrize(
    ("language", "org", "ctx", "expected"),
    [
        ("en", None, None, "USD"),
        ("pt", None, None, "BRL"),
        ("es", None, None, "MXN"),
        ("en", "AUD", None, "AUD"),  # an Australian organisation's "$" is AUD
        ("en", "AUD", "CAD", "CAD"),  # the conversation already said CAD
        ("es", "ARS", None, "ARS"),
        ("en", "EUR", None, "USD"),  # € is not a $ currency: fall back to the language
    ],
)
def test_ambiguous_dollar_sign_resolution(
    language: str, org: str | None, ctx: str | None, expected: str
) -> None:
    assert (
        currency_resolve("$", language=language, organization_currency=org, context_currency=ctx) == expected
    )


def test_split_gives_total_and_share() -> None:
    # given "$90 split 3 ways"
    found = amounts_extract("$90 split 3 ways", language="en")
    # then the total is $90 and each share $30
    assert [(a.role, a.value, a.currency) for a in found] == [
        ("total", Decimal("90.00"), "USD"),
        ("share", Decimal("30.00"), "USD"),
    ]
    pt = amounts_extract("divide os R$ 90 entre nós 3", language="pt")
    assert [(a.role, str(a.value)) for a in pt] == [("total", "90.00"), ("share", "30.00")]


def test_explicit_total_and_each() -> None:
    found = amounts_extract("dinner split: $120 total, $40 each", language="en")
    assert [(a.role, str(a.value)) for a in found] == [("total", "120.00"), ("share", "40.00")]


def test_several_amounts_keep_their_spans() -> None:
    text = "$450 is too much, how about $400?"
    found = amounts_extract(text, language="en")
    assert [(text[a.start : a.end], str(a.value)) for a in found] == [("$450", "450.00"), ("$400", "400.00")]
