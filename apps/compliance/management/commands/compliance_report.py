from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Export cases and decisions of a period as CSV or XLSX."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--from", dest="start", required=True, type=date.fromisoformat)
        parser.add_argument("--to", dest="end", required=True, type=date.fromisoformat)
        parser.add_argument("--format", dest="fmt", choices=["csv", "xlsx"], default="csv")
        parser.add_argument("--organization", help="Organisation slug (default: all).")
        parser.add_argument("--output", "-o", required=True)

    def handle(self, *args: Any, start: date, end: date, fmt: str, output: str, **options: Any) -> None:
        from apps.compliance.reports import compliance_report
        from apps.core.models import Organization

        org = None
        if options.get("organization"):
            org = Organization.objects.filter(slug=options["organization"]).first()
            if org is None:
                raise CommandError(f"No organisation {options['organization']!r}")
        data = compliance_report(start=start, end=end, fmt=fmt, organization=org)
        Path(output).write_bytes(data)
        self.stdout.write(f"Wrote {len(data)} bytes to {output}")
