from __future__ import annotations

from typing import Any

from apps.intent.engine import llm
from apps.intent.services import message_analyze

from .conftest import NOW, FakeLLM

AMBIGUOUS = "hmm about that thing from before"


def test_llm_tier_decides_what_the_model_is_unsure_about(fake_llm: FakeLLM) -> None:
    # given a configured LLM and a message the model is not sure about
    fake_llm.answer = {"intent": "payment_inquiry", "confidence": 0.8}
    # when analysed
    result = message_analyze(AMBIGUOUS, now=NOW)
    # then the LLM's structured answer wins, and the request used the JSON schema
    assert (result.intent, result.tier, result.confidence) == ("payment_inquiry", "llm", 0.8)
    sent = fake_llm.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["auth"] == "Bearer sk-test"
    assert sent["body"]["response_format"]["type"] == "json_schema"
    assert (
        "payment_inquiry"
        in sent["body"]["response_format"]["json_schema"]["schema"]["properties"]["intent"]["enum"]
    )


def test_rules_decisions_do_not_call_the_llm(fake_llm: FakeLLM) -> None:
    assert message_analyze("split $90 3 ways", now=NOW).tier == "rules"
    assert fake_llm.requests == []


def test_timeout_falls_back_to_the_model(fake_llm: FakeLLM, settings: Any) -> None:
    settings.INTENT_LLM_TIMEOUT = 0.2
    fake_llm.delay = 1.0
    result = message_analyze(AMBIGUOUS, now=NOW)
    assert result.tier == "model"
    assert llm.breaker.failures == 1


def test_schema_violations_are_failures(fake_llm: FakeLLM) -> None:
    fake_llm.raw_content = '{"intent": "buy_a_boat", "confidence": 2}'
    assert message_analyze(AMBIGUOUS, now=NOW).tier == "model"
    fake_llm.raw_content = "not json"
    assert message_analyze(AMBIGUOUS, now=NOW).tier == "model"
    assert llm.breaker.failures == 2


def test_circuit_breaker_opens_then_half_opens(fake_llm: FakeLLM, settings: Any, monkeypatch: Any) -> None:
    # given five consecutive server errors
    settings.INTENT_LLM_BREAKER_FAILURES = 3
    settings.INTENT_LLM_BREAKER_RESET = 60
    fake_llm.status = 500
    for _ in range(3):
        message_analyze(AMBIGUOUS, now=NOW)
    assert llm.breaker.is_open
    calls = len(fake_llm.requests)
    # when more messages come, the LLM is not called at all
    assert message_analyze(AMBIGUOUS, now=NOW).tier == "model"
    assert len(fake_llm.requests) == calls
    # after the cool-down one trial call goes through and, when it succeeds, closes the breaker
    fake_llm.status = 200
    clock = llm.time.monotonic() + 61
    monkeypatch.setattr(llm.time, "monotonic", lambda: clock)
    assert message_analyze(AMBIGUOUS, now=NOW).tier == "llm"
    assert not llm.breaker.is_open


def test_daily_cost_cap(fake_llm: FakeLLM, settings: Any) -> None:
    # given a cap of $0.001 and calls that cost 1,000 tokens x $0.0006 = $0.0006 each
    settings.INTENT_LLM_DAILY_COST_CAP = 0.001
    settings.INTENT_LLM_COST_PER_1K_TOKENS = 0.0006
    fake_llm.total_tokens = 1000
    # when two ambiguous messages go to the LLM, $0.0012 is spent: over the cap
    assert message_analyze(AMBIGUOUS, now=NOW).tier == "llm"
    assert message_analyze(AMBIGUOUS + "?", now=NOW).tier == "llm"
    assert llm.llm_spent_today() >= 0.0012
    # then the next ambiguous message is refused by the budget, not sent
    calls = len(fake_llm.requests)
    assert message_analyze(AMBIGUOUS + "??", now=NOW).tier == "model"
    assert len(fake_llm.requests) == calls


def test_llm_is_off_without_configuration() -> None:
    assert not llm.llm_enabled()
    assert llm.llm_classify(AMBIGUOUS, language="en") is None
