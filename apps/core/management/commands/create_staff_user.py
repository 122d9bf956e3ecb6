"""Create (or update) a staff user with a TOTP device and print how to enrol it."""

from __future__ import annotations

import io
from typing import Any

import qrcode
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from apps.core.choices import Role
from apps.core.models import Organization, User
from apps.core.services import membership_add


class Command(BaseCommand):
    help = "Create a staff user with a TOTP device; prints the provisioning URI and a terminal QR code."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="")
        parser.add_argument("--password", help="Password (prompted for when omitted and interactive).")
        parser.add_argument("--superuser", action="store_true")
        parser.add_argument("--organization", help="Slug of an organisation to join.")
        parser.add_argument("--role", choices=[r.value for r in Role], default=Role.COMPLIANCE_REVIEWER.value)
        parser.add_argument("--no-qr", action="store_true", help="Print only the URI.")

    @transaction.atomic
    def handle(self, *args: Any, **opts: Any) -> None:
        password = opts["password"]
        if not password:
            import getpass

            password = getpass.getpass("Password: ")
        if len(password) < 8:
            raise CommandError("The password must have at least 8 characters.")
        user, created = User.objects.get_or_create(
            username=opts["username"], defaults={"email": opts["email"]}
        )
        user.is_staff = True
        user.is_superuser = opts["superuser"]
        user.set_password(password)
        user.save()
        if opts["organization"]:
            org = Organization.objects.filter(slug=opts["organization"]).first()
            if org is None:
                raise CommandError(f"No organisation with slug {opts['organization']!r}.")
            membership_add(organization=org, user=user, role=opts["role"])
        TOTPDevice.objects.filter(user=user, name="default").delete()
        device = TOTPDevice.objects.create(user=user, name="default", confirmed=True)
        self.stdout.write(f"{'Created' if created else 'Updated'} staff user {user.username}.")
        self.stdout.write(f"TOTP provisioning URI: {device.config_url}")
        if not opts["no_qr"]:
            qr = qrcode.QRCode(border=1)
            qr.add_data(device.config_url)
            out = io.StringIO()
            qr.print_ascii(out=out, invert=True)
            self.stdout.write(out.getvalue())
