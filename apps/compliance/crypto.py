"""PII at rest: MultiFernet-encrypted model fields and keyed blind indexes.

Keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (newest first): the first key
encrypts, every key decrypts, so rotation is "prepend a key, run
``manage.py rotate_keys``, drop the old key". Equality search on encrypted
values uses ``blind_index`` (HMAC-SHA256 with ``settings.PII_HASH_KEY``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache
from typing import Any

import structlog
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"
logger = structlog.get_logger(__name__)


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k.encode() if isinstance(k, str) else k) for k in keys])


def _keys() -> tuple[str, ...]:
    keys = tuple(k for k in getattr(settings, "FIELD_ENCRYPTION_KEYS", []) if k)
    if keys:
        return keys
    # Unconfigured (local demo): a key derived from SECRET_KEY, so data is still never stored in clear.
    # Production must set FIELD_ENCRYPTION_KEYS so rotating SECRET_KEY cannot orphan the PII.
    if not _warned:
        _warned.append(True)
        logger.warning("field_encryption_keys_missing", fallback="derived from SECRET_KEY")
    derived = base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest())
    return (derived.decode(),)


_warned: list[bool] = []


def fernet() -> MultiFernet:
    return _multifernet(_keys())


def encrypt(value: str) -> str:
    return PREFIX + fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        # Rows written before the field was encrypted: read as they are.
        return token
    try:
        return fernet().decrypt(token[len(PREFIX) :].encode()).decode()
    except InvalidToken as exc:
        raise ImproperlyConfigured("Cannot decrypt a PII field: unknown FIELD_ENCRYPTION_KEYS") from exc


def rotate_token(token: str) -> str:
    """Re-encrypt ``token`` with the newest key (plaintext stays unchanged)."""
    if not token:
        return token
    if not token.startswith(PREFIX):
        return encrypt(token)
    return PREFIX + fernet().rotate(token[len(PREFIX) :].encode()).decode()


def normalize_for_index(value: str) -> str:
    text = unicodedata.normalize("NFKD", value)
    text = "".join(c for c in text if not unicodedata.combining(c))
    return re.sub(r"[^0-9a-z@]", "", text.casefold())


def blind_index(value: str | None) -> str:
    """Keyed hash of a normalised value: lets us find ``tax_id == X`` without decrypting every row."""
    if not value:
        return ""
    key = str(getattr(settings, "PII_HASH_KEY", settings.SECRET_KEY)).encode()
    return hmac.new(key, normalize_for_index(value).encode(), hashlib.sha256).hexdigest()


def mask_value(value: str | None, keep: int = 4) -> str:
    """``J*** S****`` style masking for names, ``****1234`` for identifiers."""
    if not value:
        return ""
    if any(c.isdigit() for c in value):
        digits = re.sub(r"\s", "", value)
        return "*" * max(len(digits) - keep, 0) + digits[-keep:]
    return " ".join(w[:1] + "*" * (len(w) - 1) for w in value.split())


class EncryptedTextField(models.TextField):
    """A text field stored as a MultiFernet token; Python code sees plaintext.

    Encrypted values cannot be filtered on; pair the field with a blind index.
    """

    description = "Text encrypted at rest (MultiFernet)"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return value
        return decrypt(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt(str(value))
