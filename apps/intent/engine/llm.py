"""Optional LLM tier: an OpenAI-compatible ``/v1/chat/completions`` call with JSON-schema output.

Off unless INTENT_LLM_BASE_URL and INTENT_LLM_API_KEY are set. Guarded by a timeout, an in-process
circuit breaker (N consecutive failures open it for a cool-down) and a daily cost cap shared through
the Django cache (Redis in production), so a flood of ambiguous messages cannot run up a bill.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from django.core.cache import cache

from apps.intent import conf
from apps.intent.registry import INTENT_NAMES

logger = structlog.get_logger(__name__)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "intent": {"type": "string", "enum": list(INTENT_NAMES)},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
    },
    "required": ["intent", "confidence"],
    "additionalProperties": False,
}
SYSTEM_PROMPT = (
    "You classify one chat message (English, Portuguese or Spanish) into the payment intent it expresses. "
    "Intents: " + ", ".join(INTENT_NAMES) + '. Money mentioned in passing ("the movie cost $20") is none. '
    "Answer with JSON only."
)


@dataclass(frozen=True)
class LLMAnswer:
    intent: str
    confidence: float
    cost_usd: float


class CircuitBreaker:
    """Closed → open after ``failures`` consecutive errors; half-open (one trial) after ``reset`` seconds."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.failures = 0
        self.opened_at: float | None = None

    def allow(self) -> bool:
        with self._lock:
            if self.opened_at is None:
                return True
            if time.monotonic() - self.opened_at >= conf.llm_breaker_reset():
                self.opened_at = None  # half-open: the next call decides
                self.failures = conf.llm_breaker_failures() - 1
                return True
            return False

    def record(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.failures, self.opened_at = 0, None
                return
            self.failures += 1
            if self.failures >= conf.llm_breaker_failures():
                self.opened_at = time.monotonic()

    @property
    def is_open(self) -> bool:
        return self.opened_at is not None


breaker = CircuitBreaker()


def llm_enabled() -> bool:
    return bool(conf.llm_base_url() and conf.llm_api_key())


def _cost_key() -> str:
    return f"intent:llm:cost_micro_usd:{datetime.now(UTC).date().isoformat()}"


def llm_spent_today() -> float:
    return (cache.get(_cost_key()) or 0) / 1_000_000


def _add_cost(usd: float) -> None:
    key = _cost_key()
    micro = round(usd * 1_000_000)
    cache.add(key, 0, timeout=2 * 86400)
    try:
        cache.incr(key, micro)
    except ValueError:  # evicted between add and incr
        cache.set(key, micro, timeout=2 * 86400)


def llm_classify(text: str, *, language: str, client: httpx.Client | None = None) -> LLMAnswer | None:
    """The LLM's answer, or None when off, over budget, broken, slow or nonsensical (the caller keeps its own)."""
    if not llm_enabled():
        return None
    if llm_spent_today() >= conf.llm_daily_cost_cap():
        logger.info("intent_llm_skipped", reason="daily_cost_cap")
        return None
    if not breaker.allow():
        logger.info("intent_llm_skipped", reason="circuit_open")
        return None
    body = {
        "model": conf.llm_model(),
        "temperature": 0,
        "max_tokens": 60,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": f"language={language}\nmessage={text[:2000]}"},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "intent", "strict": True, "schema": SCHEMA},
        },
    }
    url = conf.llm_base_url().rstrip("/")
    url = url + ("/chat/completions" if url.endswith("/v1") else "/v1/chat/completions")
    headers = {"Authorization": f"Bearer {conf.llm_api_key()}"}
    try:
        if client is None:
            with httpx.Client(timeout=conf.llm_timeout()) as c:
                resp = c.post(url, json=body, headers=headers)
        else:
            resp = client.post(url, json=body, headers=headers, timeout=conf.llm_timeout())
        resp.raise_for_status()
        payload = resp.json()
        content = payload["choices"][0]["message"]["content"]
        answer = json.loads(content)
        intent = answer["intent"]
        confidence = float(answer["confidence"])
        if intent not in INTENT_NAMES or not 0 <= confidence <= 1:
            raise ValueError(f"answer outside the schema: {answer!r}")
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        breaker.record(False)
        logger.warning("intent_llm_failed", error=str(exc)[:200], breaker_open=breaker.is_open)
        return None
    breaker.record(True)
    tokens = int((payload.get("usage") or {}).get("total_tokens") or 0)
    cost = tokens / 1000 * conf.llm_cost_per_1k_tokens()
    _add_cost(cost)
    return LLMAnswer(intent=intent, confidence=confidence, cost_usd=cost)
