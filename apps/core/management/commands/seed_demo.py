"""Load the demo organisation, its people, sample conversations and payments (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction

from apps.core.choices import Role
from apps.core.models import Organization, User
from apps.core.services import membership_add, organization_create

DEMO_PASSWORD = "demo-pass-2026"  # noqa: S105 - the documented demo login


class Command(BaseCommand):
    help = "Seed a demo organisation with people, conversations and payments. Safe to run twice."

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        org = Organization.objects.filter(slug="demo").first()
        if org is None:
            org = organization_create(
                name="Padaria Demo Ltda",
                slug="demo",
                country="BR",
                default_currency="BRL",
                default_language="pt",
                timezone="America/Sao_Paulo",
            )
        people = [
            ("demo", Role.OWNER, True),
            ("finance", Role.FINANCE, False),
            ("reviewer", Role.COMPLIANCE_REVIEWER, False),
            ("reviewer2", Role.COMPLIANCE_REVIEWER, False),
            ("developer", Role.DEVELOPER, False),
        ]
        for username, role, superuser in people:
            user, created = User.objects.get_or_create(
                username=username, defaults={"email": f"{username}@demo.test"}
            )
            if created:
                user.set_password(DEMO_PASSWORD)
            user.is_staff = True
            user.is_superuser = superuser
            user.save()
            membership_add(organization=org, user=user, role=role)

        # Reviewers decide cases only in a session verified with a TOTP device: give the demo
        # reviewers one each and print its provisioning URI (scan it, or use any TOTP tool).
        from django_otp.plugins.otp_totp.models import TOTPDevice

        for username in ("reviewer", "reviewer2"):
            user = User.objects.get(username=username)
            device, _ = TOTPDevice.objects.get_or_create(user=user, name="demo", defaults={"confirmed": True})
            self.stdout.write(f"TOTP for {username}: {device.config_url}")

        from apps.core.demo import demo_data_load

        summary = demo_data_load(organization=org)
        self.stdout.write(
            f"Demo organisation '{org.name}' ready: {summary}. Staff login: demo / {DEMO_PASSWORD}"
        )
