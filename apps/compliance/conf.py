"""Compliance configuration, read from settings (with django-environ defaults)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import environ
from django.conf import settings
from django.core.signals import setting_changed

env = environ.Env()

# USD equivalents come from payments' ECB table (``apps.compliance.fx``). The ECB does not
# publish these currencies; their conservative rates are used instead (editable with the
# ``COMPLIANCE_FX_TO_USD`` setting, which only applies to currencies without an ECB rate).
FALLBACK_FX_TO_USD: dict[str, str] = {
    "ARS": "0.0011",
    "CLP": "0.0011",
    "COP": "0.00025",
    "PEN": "0.27",
    "AED": "0.2723",
    "SAR": "0.2667",
}


_MISSING = object()


def _get(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


_env_memo: dict[tuple[str, str, Any], Any] = {}


def _setting(name: str, cast: str, default: Any) -> Any:
    """The Django setting ``name``, else the environment variable (read only when the setting is
    absent, and then once per process: these are read several times per decision)."""
    value = getattr(settings, name, _MISSING)
    if value is _MISSING:
        key = (name, cast, default)
        value = _env_memo.get(key, _MISSING)
        if value is _MISSING:
            value = _env_memo[key] = getattr(env, cast)(name, default=default)
    return value


def _forget_environment(**kwargs: Any) -> None:
    _env_memo.clear()  # tests change settings and the environment together


setting_changed.connect(_forget_environment, dispatch_uid="compliance-conf-env-memo")


_fx_memo: tuple[tuple[tuple[str, str], ...], dict[str, Decimal]] | None = None


def fx_fallback_to_usd() -> dict[str, Decimal]:
    """USD per unit for currencies the ECB does not publish (``COMPLIANCE_FX_TO_USD`` merged over the
    defaults); parsed once per distinct setting."""
    global _fx_memo
    override = _get("COMPLIANCE_FX_TO_USD", {}) or {}
    key = tuple(sorted((str(k).upper(), str(v)) for k, v in override.items()))
    if _fx_memo is None or _fx_memo[0] != key:
        rates = dict(FALLBACK_FX_TO_USD)
        rates.update(dict(key))
        _fx_memo = (key, {k: Decimal(v) for k, v in rates.items()})
    return _fx_memo[1]


def review_score() -> int:
    return int(_setting("COMPLIANCE_REVIEW_SCORE", "int", 50))


def block_score() -> int:
    return int(_setting("COMPLIANCE_BLOCK_SCORE", "int", 150))


def four_eyes_amount_usd() -> Decimal:
    return Decimal(str(_setting("COMPLIANCE_FOUR_EYES_USD", "str", "10000")))


def case_sla_hours() -> int:
    return int(_setting("COMPLIANCE_CASE_SLA_HOURS", "int", 24))


def sanctions_strong_score() -> float:
    return float(_setting("COMPLIANCE_SANCTIONS_STRONG", "float", 0.93))


def sanctions_weak_score() -> float:
    return float(_setting("COMPLIANCE_SANCTIONS_WEAK", "float", 0.85))


def rescreen_payee_days() -> int:
    """How far back payees known only from payments are re-screened when a list changes."""
    return int(_setting("COMPLIANCE_RESCREEN_PAYEE_DAYS", "int", 365))


def sanctions_index_check_seconds() -> float:
    return float(_setting("COMPLIANCE_INDEX_CHECK_SECONDS", "float", 2.0))


def prepared_statements() -> bool:
    """Let PostgreSQL prepare the decision's statements once per connection (plans are reused)."""
    return bool(
        _setting("COMPLIANCE_PREPARED_STATEMENTS", "bool", getattr(settings, "DB_PREPARED_STATEMENTS", True))
    )


def sanctions_urls() -> dict[str, str]:
    """``format -> URL`` refreshed weekly. For ``ofac-csv`` the URL is the folder holding sdn/alt/add.csv."""
    default = {
        "ofac-xml": "https://sanctionslistservice.ofac.treas.gov/api/PublicationPreview/exports/SDN.XML",
        "eu-xml": "https://webgate.ec.europa.eu/fsd/fsf/public/files/xmlFullSanctionsList_1_1/content?token=dG9rZW4tMjAxNw",
        "un-xml": "https://scsanctions.un.org/resources/xml/en/consolidated.xml",
    }
    configured = _get("COMPLIANCE_SANCTIONS_URLS", None)
    if configured is not None:
        return dict(configured)
    raw = env.str("COMPLIANCE_SANCTIONS_URLS", default="")
    if raw:
        # "ofac-xml=https://...,un-xml=https://..."
        return dict(item.split("=", 1) for item in raw.split(",") if "=" in item)
    return default if env.bool("COMPLIANCE_SANCTIONS_REFRESH", default=False) else {}
