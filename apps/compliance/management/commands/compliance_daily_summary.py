from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

from django.core.management.base import BaseCommand
from django.utils import timezone


class Command(BaseCommand):
    help = "Build (and print) the daily compliance summary for a day (default: yesterday)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--day", type=date.fromisoformat)

    def handle(self, *args: Any, **options: Any) -> None:
        from apps.compliance.reports import daily_summary_build

        day = options.get("day") or timezone.now().date() - timedelta(days=1)
        for row in daily_summary_build(day=day):
            self.stdout.write(json.dumps({"organization": str(row.organization_id), **row.data}))
