from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from apps.intent.engine import classifier
from apps.intent.engine.context import context_update
from apps.intent.engine.text import language_detect
from apps.intent.services import message_analyze
from apps.intent.types import IntentResult

from .conftest import NOW


@pytest.mark.parametrize(
    ("text", "intent", "tier"),
    [
        ("split $90 3 ways with @ana", "split_bill", "rules"),
        ("can you invoice me for the logo? 500 bucks", "invoice_request", "rules"),
        ("quero reembolso do ingresso", "cancel_or_refund", "rules"),
        ("qual meu saldo?", "balance_or_history", "rules"),
        ("sim", "confirm", "rules"),
        ("no thanks", "decline", "rules"),
        ("el alquiler son 800 euros cada día 1", "recurring_setup", "model"),
        ("programa un pago de 800 euros cada día 1", "recurring_setup", "rules"),
        ("did John pay me?", "payment_inquiry", "rules"),
        ("te mando 50 conto amanhã", "payment_promise", "model"),
        ("I'll pay you back the $1,234.50 on Friday", "payment_promise", "model"),
        ("pix de 25 reais pro @joao", "send_payment", "model"),
        ("the movie cost $20 lol", "none", "model"),
        ("you owe me 40 bucks", "payment_request", "model"),
    ],
)
def test_issue_examples_and_tiers(text: str, intent: str, tier: str) -> None:
    result = message_analyze(text, now=NOW)
    assert (result.intent, result.tier) == (intent, tier)
    assert 0.0 <= result.confidence <= 1.0


def test_full_result_for_an_issue_example() -> None:
    # given a Portuguese promise with slang currency and a relative date
    result = message_analyze("te mando 50 conto amanhã", now=NOW)
    # then intent, amount, currency, date and language are all there, with spans
    assert result.language == "pt"
    assert result.amount is not None and (str(result.amount.value), result.amount.currency) == (
        "50.00",
        "BRL",
    )
    assert [d.value for d in result.dates] == ["2026-03-11"]
    body = result.to_dict()
    assert json.loads(json.dumps(body)) == body  # JSON-serialisable as is
    assert body["amounts"][0]["text"] == "50 conto"


def test_iban_message_carries_party_and_amount() -> None:
    result = message_analyze("€40 for the tickets, IBAN DE89 3704 0044 0532 0130 00", now=NOW)
    assert result.amount is not None and result.amount.currency == "EUR"
    assert [(p.kind, p.valid) for p in result.parties] == [("iban", True)]
    assert result.purpose == "the tickets"


def test_purpose_urgency_and_rail_hint() -> None:
    r = message_analyze("send $500 to John for the logo design asap via pix", now=NOW)
    assert (r.purpose, r.urgency, r.rail_hint) == ("the logo design", "instant", "pix")
    assert message_analyze("pay me back whenever, no rush", now=NOW).urgency == "low"


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("I'll pay you back tomorrow", "en"),
        ("te mando amanhã o dinheiro", "pt"),
        ("te pago mañana el dinero", "es"),
        ("você me deve cinquenta reais", "pt"),
        ("¿cuánto te debo?", "es"),
        # Spanish paying in Brazilian reais: neither "a" nor "R$" is evidence of Portuguese
        ("quiero pagarle 30 reales a Ana", "es"),
        ("págale R$ 30 a Ana", "es"),
        ("manda R$ 30 pra Ana", "pt"),
    ],
)
def test_language_detection(text: str, language: str) -> None:
    assert language_detect(text)[0] == language
    assert message_analyze(text, now=NOW).language == language


def test_unknown_language_gives_a_clear_result() -> None:
    # given Japanese text and a language we do not support
    result = message_analyze("明日払います", language="ja", now=NOW)
    # then the language is "und", nothing is extracted and the answer is a valid result
    assert result.language == "und"
    assert result.amounts == [] and result.error is None
    assert result.intent in classifier.model_get().labels  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty_text"),
        ("   \n ", "empty_text"),
        ("\x00\x01\x02\x03binary\x04\x05", "text_not_readable"),
        ("a" * 100_001, "text_too_long"),
    ],
)
def test_bad_text_never_crashes(text: str, code: str) -> None:
    result = message_analyze(text, now=NOW)
    assert (result.intent, result.error) == ("none", code)


def test_long_but_allowed_text_is_analysed() -> None:
    text = ("lorem ipsum dolor " * 5000)[:99_000] + " send $5 to @bob"
    result = message_analyze(text, now=NOW)
    assert result.error is None and result.amount is not None


def test_cache_tier_on_repeat(settings: Any) -> None:
    # given the cache on and a message never seen
    settings.INTENT_CACHE_ENABLED = True
    text = f"pay @ana 30 dollars ref {uuid.uuid4().hex[:8]}"
    first = message_analyze(text, now=NOW)
    # when the same text (modulo case/spacing) comes again
    second = message_analyze("  " + text.upper() + " ", now=NOW)
    # then the cache answers with the same intent; entities are still extracted from this text
    assert first.tier != "cache"
    assert (second.tier, second.intent, second.confidence) == (
        "cache",
        first.intent,
        pytest.approx(first.confidence, abs=1e-4),
    )
    assert second.amount is not None and second.amount.value == first.amount.value  # type: ignore[union-attr]


def test_fast_inference_matches_sklearn() -> None:
    model = classifier.model_get()
    assert model is not None
    texts = ["zamt pra zwho amanha", "the movie cost zamt lol", "sim", "divide os zamt entre nos 0", "qwerty"]
    one_by_one = np.vstack([model.predict_proba([t])[0] for t in texts])
    batch = model.predict_proba(texts)
    assert np.allclose(one_by_one, batch, atol=1e-9)


@pytest.mark.parametrize(
    "text",
    ["  a  b ", "x", "", "héllo   WORLD\tok\n", "a" * 50, "r$ 50 pro @joão 😀", "ÇA VA? sí, 1.234,56"],
)
def test_fast_char_ngrams_equal_sklearns(text: str) -> None:
    # given the model's char_wb vectorizer
    model = classifier.model_get()
    assert model is not None
    char = dict(model.vectorizer.transformer_list)["char"]
    # then the fast analyzer yields the very n-grams scikit-learn does, in order
    assert classifier._fast_analyzer(char)(text) == char.build_analyzer()(text)


def test_model_file_version_check(tmp_path: Path) -> None:
    import joblib

    bad = tmp_path / "m.joblib"
    joblib.dump({"meta": {"format": 0}}, bad)
    with pytest.raises(classifier.ModelUnavailable, match="format"):
        classifier.model_load(bad)
    with pytest.raises(classifier.ModelUnavailable, match="no model file"):
        classifier.model_load(tmp_path / "missing.joblib")


def test_without_a_model_the_rules_tier_still_answers(settings: Any, tmp_path: Path) -> None:
    settings.INTENT_MODEL_PATH = str(tmp_path / "missing.joblib")
    classifier.model_reset()
    try:
        assert message_analyze("split $90 3 ways", now=NOW).tier == "rules"
        fallback = message_analyze("the movie cost $20 lol", now=NOW)
        assert (fallback.intent, fallback.tier) == ("none", "rules")
    finally:
        settings.INTENT_MODEL_PATH = str(classifier.__file__).replace(
            "engine/classifier.py", "data/intent_model.joblib"
        )
        classifier.model_reset()


class TestContext:
    def test_make_it_450_after_an_offer(self) -> None:
        # given an offer of $400 in the conversation
        offer = message_analyze("would you take $400 for the bike?", now=NOW)
        ctx = context_update({}, offer, now=NOW)
        # when the other side says "make it $450"
        counter = message_analyze("make it 450", context=ctx, now=NOW + timedelta(minutes=1))
        # then it is a negotiation about $450 USD (currency from the conversation)
        assert counter.intent == "price_negotiation"
        assert counter.amount is not None and (str(counter.amount.value), counter.amount.currency) == (
            "450.00",
            "USD",
        )
        assert "amount" in counter.context_used and "currency" in counter.context_used

    def test_yes_confirms_the_pending_payment(self) -> None:
        ask = message_analyze("send $50 to @maria", now=NOW)
        ctx = context_update({}, ask, now=NOW)
        yes = message_analyze("yes", context=ctx, now=NOW + timedelta(minutes=2))
        assert yes.intent == "confirm"
        assert yes.refers_to is not None and yes.refers_to["intent"] == "send_payment"
        assert (yes.refers_to["amount"], yes.refers_to["currency"]) == ("50.00", "USD")
        # and the confirmation consumes the pending action
        assert "pending" not in context_update(ctx, yes, now=NOW + timedelta(minutes=2))

    def test_him_is_the_last_counterparty(self) -> None:
        ctx = context_update({}, message_analyze("did John pay me?", now=NOW), now=NOW)
        result = message_analyze("send him $20", context=ctx, now=NOW)
        pronoun = next(p for p in result.parties if p.kind == "pronoun")
        assert (pronoun.text, pronoun.value, pronoun.subkind) == ("him", "John", "name")

    def test_context_expires(self) -> None:
        ask = message_analyze("send $50 to @maria", now=NOW)
        ctx = context_update({}, ask, now=NOW)
        later = NOW + timedelta(hours=2)  # default TTL is 30 minutes
        yes = message_analyze("yes", context=ctx, now=later)
        assert yes.intent == "confirm" and yes.refers_to is None
        assert "pending" not in context_update(ctx, yes, now=later)

    def test_context_is_json_and_keeps_foreign_keys(self) -> None:
        ctx = {"timezone": "America/Sao_Paulo", "flow": {"step": 2}}
        out = context_update(ctx, message_analyze("pay @ana R$ 30", now=NOW), now=NOW)
        assert json.loads(json.dumps(out)) == out
        assert out["flow"] == {"step": 2} and out["timezone"] == "America/Sao_Paulo"
        assert datetime.fromisoformat(out["pending"]["expires_at"]) > NOW

    def test_sender_timezone_from_context(self) -> None:
        # 01:30 UTC on the 11th is still the 10th in São Paulo
        utc_now = datetime.fromisoformat("2026-03-11T01:30:00+00:00")
        r = message_analyze("I'll pay tomorrow", context={"timezone": "America/Sao_Paulo"}, now=utc_now)
        assert r.dates[0].value == "2026-03-11"
        assert message_analyze("I'll pay tomorrow", now=utc_now).dates[0].value == "2026-03-12"


def test_result_property_amount_prefers_total() -> None:
    r = message_analyze("$90 split 3 ways", now=NOW)
    assert isinstance(r, IntentResult)
    assert r.amount is not None and r.amount.role == "total"
