from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Re-encrypt PII and platform secrets with the newest FIELD_ENCRYPTION_KEYS key (prepend the "
        "new key first, drop the old one after). --reindex recomputes blind indexes and webhook "
        "secret hashes after PII_HASH_KEY changed."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reindex", action="store_true")

    def handle(self, *args: Any, reindex: bool = False, **options: Any) -> None:
        from apps.compliance.services import pii_rotate_keys
        from apps.conversations.services import platform_secrets_rotate

        count = pii_rotate_keys(reindex=reindex)
        accounts = platform_secrets_rotate(rehash=reindex)
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} rows and {accounts} platform accounts"))
