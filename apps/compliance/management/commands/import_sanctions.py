from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.compliance.choices import SanctionsFormat
from apps.core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Import a sanctions list: OFAC SDN (legacy CSV or XML), EU or UN consolidated XML, from a path or URL."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--format", required=True, choices=SanctionsFormat.values, dest="fmt")
        parser.add_argument(
            "origin", help="File path or URL (ofac-csv: sdn.csv or its folder; alt/add beside it)."
        )

    def handle(self, *args: Any, fmt: str, origin: str, **options: Any) -> None:
        from apps.compliance.services import sanctions_import

        try:
            lst, changed = sanctions_import(fmt=fmt, origin=origin, actor="command:import_sanctions")
        except (ApplicationError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        verb = "Imported" if changed else "Unchanged"
        self.stdout.write(
            f"{verb}: {lst.get_source_display()} list #{lst.pk} with {lst.entity_count} entries"
        )
