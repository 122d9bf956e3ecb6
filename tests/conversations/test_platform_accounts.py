"""Platform secrets at rest: encrypted with FIELD_ENCRYPTION_KEYS and re-encrypted by rotate_keys."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command

from apps.conversations.models import PlatformAccount
from apps.conversations.platforms.crypto import secret_hash
from tests.conversations.factories import TG_SECRET, telegram_account

pytestmark = pytest.mark.django_db


def test_rotate_keys_re_encrypts_platform_secrets(organization, settings):
    # given a Telegram bot whose secrets were written with the old key
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    account = telegram_account(organization)
    before = account.secrets_encrypted
    # when a new key is put first and rotate_keys runs
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    call_command("rotate_keys")
    # then the old key can no longer read the token and the new key alone can
    account.refresh_from_db()
    assert account.secrets_encrypted != before
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(account.secrets_encrypted.encode())
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert PlatformAccount.objects.get(pk=account.pk).secrets_get()["webhook_secret"] == TG_SECRET


def test_reindex_recomputes_the_webhook_secret_hash(organization, settings):
    account = telegram_account(organization)
    settings.PII_HASH_KEY = "a-new-hash-key"
    call_command("rotate_keys", "--reindex")
    account.refresh_from_db()
    assert account.webhook_secret_hash == secret_hash(TG_SECRET)
