"""Intent engine configuration (environment first, then Django settings, then defaults)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import environ
from django.conf import settings
from django.core.signals import setting_changed

env = environ.Env()

DATA_DIR = Path(__file__).resolve().parent / "data"


_memo: dict[tuple[str, Any, type], Any] = {}


def _read(name: str, default: Any, cast: type) -> Any:
    if name in env.ENVIRON:
        if cast is bool:
            return env.bool(name)
        if cast is int:
            return env.int(name)
        if cast is float:
            return env.float(name)
        return env.str(name)
    return getattr(settings, name, default)


def _get(name: str, default: Any, cast: type = str) -> Any:
    """Read once per process: every message asks for several of these (measurable per message).
    ``override_settings`` and the test ``settings`` fixture drop the memo (``setting_changed``);
    a process reads the environment when it first needs a value."""
    key = (name, default, cast)
    try:
        return _memo[key]
    except KeyError:
        value = _memo[key] = _read(name, default, cast)
        return value


def _forget(**kwargs: Any) -> None:
    _memo.clear()


setting_changed.connect(_forget, dispatch_uid="intent-conf-memo")


def model_path() -> Path:
    return Path(_get("INTENT_MODEL_PATH", str(DATA_DIR / "intent_model.joblib")))


def cache_ttl() -> int:
    return int(_get("INTENT_CACHE_TTL", 3600, int))


def cache_enabled() -> bool:
    return bool(_get("INTENT_CACHE_ENABLED", True, bool))


def context_ttl() -> int:
    """Seconds a context item (last amount, pending confirmation, last party) stays usable."""
    return int(_get("INTENT_CONTEXT_TTL", 1800, int))


def model_threshold() -> float:
    """Below this model confidence the LLM tier (if configured) is asked."""
    return float(_get("INTENT_LLM_THRESHOLD", 0.6, float))


def llm_base_url() -> str:
    return str(_get("INTENT_LLM_BASE_URL", ""))


def llm_api_key() -> str:
    return str(_get("INTENT_LLM_API_KEY", ""))


def llm_model() -> str:
    return str(_get("INTENT_LLM_MODEL", "gpt-4o-mini"))


def llm_timeout() -> float:
    return float(_get("INTENT_LLM_TIMEOUT", 3.0, float))


def llm_daily_cost_cap() -> float:
    """USD per UTC day; once spent, the LLM tier is skipped until the next day."""
    return float(_get("INTENT_LLM_DAILY_COST_CAP", 5.0, float))


def llm_cost_per_1k_tokens() -> float:
    return float(_get("INTENT_LLM_COST_PER_1K_TOKENS", 0.0006, float))


def llm_breaker_failures() -> int:
    return int(_get("INTENT_LLM_BREAKER_FAILURES", 5, int))


def llm_breaker_reset() -> float:
    return float(_get("INTENT_LLM_BREAKER_RESET", 60.0, float))


def max_text_bytes() -> int:
    return int(_get("INTENT_MAX_TEXT_BYTES", 100_000, int))
