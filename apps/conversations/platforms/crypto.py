"""Encryption of platform secrets at rest (Fernet, keys from ``FIELD_ENCRYPTION_KEYS``)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _fernet() -> MultiFernet:
    keys = list(getattr(settings, "FIELD_ENCRYPTION_KEYS", []) or [])
    if not keys:
        # Local development without keys: derive one from SECRET_KEY (documented; set real keys in production).
        keys = [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def secrets_encrypt(secrets: dict[str, str]) -> str:
    return _fernet().encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()


def secrets_rotate(token: str) -> str:
    """Re-encrypt ``token`` with the newest key (MultiFernet.rotate); raises on an unknown key."""
    return _fernet().rotate(token.encode()).decode()


def secrets_decrypt(token: str) -> dict[str, str]:
    if not token:
        return {}
    try:
        return dict(json.loads(_fernet().decrypt(token.encode())))
    except InvalidToken:
        return {}


def secret_hash(value: str) -> str:
    """A keyed hash used to look a row up by a secret without storing it in clear."""
    return hmac.new(settings.PII_HASH_KEY.encode(), value.encode(), hashlib.sha256).hexdigest()
