"""``manage.py webhooks_register``: point the platforms' webhooks at this deployment."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.conversations.models import PlatformAccount
from apps.conversations.platforms.registration import RegistrationError, webhook_register


class Command(BaseCommand):
    help = (
        "Register the webhooks of platform accounts with Telegram (setWebhook), WhatsApp (the Meta "
        "app's subscription) and Slack (the app manifest's Request URLs, given --app-id and "
        "--config-token; otherwise where to paste them). Every active account, or those named."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "accounts", nargs="*", help="account ids or platform external ids (default: all active)"
        )
        parser.add_argument(
            "--platform", choices=["telegram", "whatsapp", "slack"], help="only this platform"
        )
        parser.add_argument(
            "--url", default="", help="the public HTTPS base URL (default: AGENTPAY_PUBLIC_URL)"
        )
        parser.add_argument("--app-id", default="", help="WhatsApp: the Meta app id; Slack: the app id (A…)")
        parser.add_argument(
            "--config-token",
            default="",
            help="Slack: an app configuration token (api.slack.com/apps, 'Your App Configuration Tokens'; "
            "valid 12 hours, not stored) to set the Request URLs through the App Manifest API",
        )
        parser.add_argument(
            "--waba-id", default="", help="WhatsApp: the business account to subscribe to the app"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        queryset = PlatformAccount.objects.filter(is_active=True).select_related("organization")
        if options["platform"]:
            queryset = queryset.filter(platform=options["platform"])
        accounts = list(queryset)
        if options["accounts"]:
            wanted = set(options["accounts"])
            accounts = [a for a in accounts if str(a.pk) in wanted or a.external_id in wanted]
            missing = wanted - {str(a.pk) for a in accounts} - {a.external_id for a in accounts}
            if missing:
                raise CommandError(f"No active platform account {', '.join(sorted(missing))}.")
        if not accounts:
            raise CommandError("No active platform account to register (add one in the admin first).")
        failed = 0
        for account in accounts:
            label = f"{account.platform} {account.external_id} ({account.organization.name})"
            try:
                result = webhook_register(
                    account=account,
                    public_url=options["url"],
                    app_id=options["app_id"],
                    waba_id=options["waba_id"],
                    config_token=options["config_token"],
                )
            except RegistrationError as exc:
                failed += 1
                self.stderr.write(self.style.ERROR(f"{label}: {exc.message}"))
                continue
            if result.registered:
                self.stdout.write(self.style.SUCCESS(f"{label}: registered {result.url}"))
                self.stdout.write(json.dumps(result.detail, indent=2, sort_keys=True))
                if result.instructions:
                    self.stdout.write(self.style.WARNING(result.instructions))
            else:
                self.stdout.write(self.style.WARNING(f"{label}: {result.instructions}"))
        if failed:
            raise CommandError(f"{failed} account(s) not registered.")
