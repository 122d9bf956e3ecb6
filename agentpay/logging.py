"""structlog configuration: JSON logs with request context and masked secrets.

Every log line carries the request id, user and organisation bound by
``django_structlog`` and ``apps.core.middleware.LogContextMiddleware``; payment
and conversation ids are bound by the services that know them. The
``mask_sensitive`` processor removes secrets and masks account identifiers
(IBAN, CPF/CNPJ, card numbers, phone numbers) wherever they appear.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import structlog

SECRET_KEYS = re.compile(
    r"(password|secret|token|api[_-]?key|authorization|signature|cookie|private|fernet|dsn)", re.I
)

# Order matters: the most specific patterns first.
_PATTERNS: list[tuple[re.Pattern[str], Any]] = [
    # IBAN: two letters, two digits, 11-30 alphanumerics (optionally grouped by spaces)
    (
        re.compile(r"\b([A-Z]{2}\d{2})((?:[ ]?[A-Z0-9]{4}){2,7}[ ]?[A-Z0-9]{1,4})\b"),
        lambda m: f"{m[1]}****{m[2].replace(' ', '')[-4:]}",
    ),
    # CNPJ 00.000.000/0000-00 and CPF 000.000.000-00, with or without punctuation
    (re.compile(r"\b\d{2}\.?\d{3}\.?\d{3}/?\d{4}-?\d{2}\b"), lambda m: "**.***.***/****-" + m[0][-2:]),
    (re.compile(r"\b\d{3}\.?\d{3}\.?\d{3}-?\d{2}\b"), lambda m: "***.***.***-" + m[0][-2:]),
    # card numbers: 13-19 digits, optionally grouped
    (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), lambda m: "**** " + re.sub(r"\D", "", m[0])[-4:]),
    # phone numbers in E.164 or with a leading +
    (re.compile(r"\+\d[\d ()-]{7,}\d"), lambda m: "+***" + re.sub(r"\D", "", m[0])[-3:]),
]


# Every pattern above needs one of these: two letters and two digits (IBAN), a run of seven or
# more digits and separators (CPF/CNPJ, card), or a '+' and a digit (phone). Text without one
# (most log values: paths, codes, event names) skips the five substitutions.
_CANDIDATE = re.compile(r"[A-Z]{2}\d{2}|\d[\d .\-/]{5,}\d|\+\d")


def mask_text(value: str) -> str:
    """Mask account identifiers inside free text."""
    if _CANDIDATE.search(value) is None:
        return value
    for pattern, repl in _PATTERNS:
        value = pattern.sub(repl, value)
    return value


def _mask(value: Any, depth: int = 0) -> Any:
    if depth > 4:
        return value
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: ("***" if SECRET_KEYS.search(str(k)) else _mask(v, depth + 1)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, depth + 1) for v in value]
    return value


def mask_sensitive(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor: drop secrets, mask identifiers."""
    for key in list(event_dict):
        if key in ("timestamp", "level", "logger", "request_id"):
            continue
        if SECRET_KEYS.search(key):
            event_dict[key] = "***"
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def configure_structlog(*, level: str, fmt: str) -> dict[str, Any]:
    # The Logging HOWTO's "Optimization": no line prints the caller's file, thread or process, so
    # the standard library need not look them up for every record.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        structlog.processors.UnicodeDecoder(),
        mask_sensitive,
    ]
    structlog.configure(
        # Drop events below the logger's level first, before timestamps and masking are paid for.
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    renderer = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processor": renderer,
                "foreign_pre_chain": shared,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "WARNING"},
            "django_structlog": {"level": level},
            "uvicorn.access": {"level": "WARNING"},
        },
    }
