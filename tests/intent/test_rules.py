from __future__ import annotations

import pytest

from apps.intent.engine import rules
from apps.intent.engine.pipeline import classifier_input, entities_extract

from .conftest import NOW


def _hit(text: str, language: str, **flags: bool) -> str | None:
    opts = {"has_amount": False, "has_recurrence": False, "has_action": False, **flags}
    hit = rules.rules_match(text, language=language, **opts)
    return hit.intent if hit else None


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("stop paying chris every month", "en"),
        ("para de pagar o joao todo mes", "pt"),
        ("deja de pagarle a diego cada mes", "es"),
    ],
)
def test_stopping_a_payment_is_a_cancellation(text: str, language: str) -> None:
    assert _hit(text, language) == "cancel_or_refund"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("manda 50 reais para pagar o aluguel do joao", "pt"),
        ("te mando 40 euros para pagar la cena de ayer", "es"),
    ],
)
def test_para_as_a_preposition_is_not_stop(text: str, language: str) -> None:
    assert _hit(text, language, has_amount=True) != "cancel_or_refund"


@pytest.mark.parametrize(
    ("text", "language"),
    [("pay the $750 invoice from sarah now", "en"), ("paga o boleto do joao de 300 reais agora", "pt")],
)
def test_paying_a_bill_is_not_an_invoice_request(text: str, language: str) -> None:
    assert _hit(text, language, has_amount=True) != "invoice_request"


def test_asking_for_an_invoice_still_hits_the_invoice_rule() -> None:
    assert _hit("send me an invoice for 300 dollars", "en", has_amount=True) == "invoice_request"


def test_classifier_input_drops_accents_and_masks_entities() -> None:
    text = "devuélveme los 40 € mañana"
    entities = entities_extract(text, language="es", now=NOW, context=None, organization_currency=None)
    prepared = classifier_input(text, entities)
    assert "zamt" in prepared and "devuelveme" in prepared
    assert prepared.isascii()
