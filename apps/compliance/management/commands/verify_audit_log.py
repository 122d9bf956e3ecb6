from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Verify the audit log hash chain; exits non-zero naming the first broken entry."

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.compliance.services import audit_verify

        ok, sequence, message = audit_verify()
        if not ok:
            raise CommandError(f"Audit chain broken at entry #{sequence}: {message}")
        self.stdout.write(self.style.SUCCESS(f"Audit chain intact: {message}"))
