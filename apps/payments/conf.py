"""Configuration of the payments app (environment first, then Django settings, then defaults)."""

from __future__ import annotations

from typing import Any

import environ
from django.conf import settings

env = environ.Env()


def _get(name: str, cast: Any, default: Any) -> Any:
    if name in env.ENVIRON:
        return cast(name, default=default)
    return getattr(settings, name, default)


def fx_ecb_url() -> str:
    """Where the FX refresh task fetches the ECB daily XML ("" disables the fetch)."""
    return str(
        _get("PAYMENTS_FX_ECB_URL", env.str, "https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml")
    )


def fx_supplementary_file() -> str:
    """A JSON file of rates the ECB does not publish (e.g. ARS, COP); "" = none."""
    return str(_get("PAYMENTS_FX_SUPPLEMENTARY_FILE", env.str, "") or "")


def fx_supplementary_max_age_hours() -> float:
    """Supplementary rates older than this are ignored (their currencies become unsupported)."""
    return float(_get("PAYMENTS_FX_SUPPLEMENTARY_MAX_AGE_HOURS", env.float, 48.0))


def fx_lock_ttl_seconds() -> int:
    """How long a quoted FX rate stays locked for the payment that uses it."""
    return int(_get("PAYMENTS_FX_LOCK_TTL_SECONDS", env.int, 900))


def max_rail_attempts() -> int:
    """Rails tried per payment (first choice + fallbacks)."""
    return int(_get("PAYMENTS_MAX_RAIL_ATTEMPTS", env.int, 3))


def max_transient_retries() -> int:
    """Retries of one initiation after transient errors before falling back."""
    return int(_get("PAYMENTS_MAX_TRANSIENT_RETRIES", env.int, 4))


def retry_base_seconds() -> float:
    return float(_get("PAYMENTS_RETRY_BASE_SECONDS", env.float, 2.0))


def retry_max_seconds() -> float:
    return float(_get("PAYMENTS_RETRY_MAX_SECONDS", env.float, 300.0))


def initiation_timeout_seconds() -> int:
    """A payment initiated longer ago than this without a final status is polled, then fallen back."""
    return int(_get("PAYMENTS_INITIATION_TIMEOUT_SECONDS", env.int, 3600))


def poll_after_seconds() -> int:
    """Webhooks are expected within this time; the polling backstop asks the rail after it."""
    return int(_get("PAYMENTS_POLL_AFTER_SECONDS", env.int, 120))


def refund_poll_seconds() -> float:
    """First status check of a pending refund after the rail accepted it (then backoff, and every minute)."""
    return float(_get("PAYMENTS_REFUND_POLL_SECONDS", env.float, 5.0))


def circuit_failure_threshold() -> int:
    return int(_get("PAYMENTS_CIRCUIT_FAILURE_THRESHOLD", env.int, 5))


def circuit_open_seconds() -> int:
    return int(_get("PAYMENTS_CIRCUIT_OPEN_SECONDS", env.int, 60))


def circuit_error_rate_threshold() -> float:
    return float(_get("PAYMENTS_CIRCUIT_ERROR_RATE", env.float, 0.5))


def annual_rate_time_value() -> float:
    """Annual cost of money used to price slow settlement (time value of money)."""
    return float(_get("PAYMENTS_TIME_VALUE_ANNUAL_RATE", env.float, 0.10))


def idempotency_ttl_hours() -> int:
    return max(24, int(_get("PAYMENTS_IDEMPOTENCY_TTL_HOURS", env.int, 48)))


def idempotency_abandoned_seconds() -> int:
    """How long a reserved key may stay unanswered before a retry takes it over (longer than any
    request may run; the web servers time requests out well before)."""
    return max(60, int(_get("PAYMENTS_IDEMPOTENCY_ABANDONED_SECONDS", env.int, 300)))


def catalog_cache_seconds() -> float:
    """How long a process reuses the rail catalogue (capabilities + fees) before re-reading it."""
    return float(_get("PAYMENTS_CATALOG_CACHE_SECONDS", env.float, 30.0))


def sandbox_webhook_delivery() -> str:
    """``wsgi`` (in-process through the full Django stack) or ``http`` (POST to AGENTPAY_PUBLIC_URL)."""
    return str(_get("PAYMENTS_SANDBOX_WEBHOOK_DELIVERY", env.str, "wsgi"))


def sandbox_latency_override() -> float | None:
    """Seconds; overrides every rail's configured sandbox settlement latency (tests, demos)."""
    value = _get("PAYMENTS_SANDBOX_LATENCY_SECONDS", env.str, None)
    return None if value in (None, "") else float(value)


def webhook_secret(rail: str) -> str:
    """Per-rail webhook signing secret: ``PAYMENTS_WEBHOOK_SECRET_<RAIL>`` or one derived from SECRET_KEY."""
    name = f"PAYMENTS_WEBHOOK_SECRET_{rail.upper()}"
    value = _get(name, env.str, "")
    if value:
        return str(value)
    import hashlib

    return hashlib.sha256(f"{settings.SECRET_KEY}:rail-webhook:{rail}".encode()).hexdigest()


def public_url() -> str:
    return str(getattr(settings, "AGENTPAY_PUBLIC_URL", "http://127.0.0.1:8000")).rstrip("/")


def failpoints_enabled() -> bool:
    """Fault injection for crash-recovery tests; never set in production."""
    return bool(_get("PAYMENTS_FAILPOINTS", env.bool, False))
