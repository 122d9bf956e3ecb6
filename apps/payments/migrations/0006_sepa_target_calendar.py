"""SEPA SCT follows the TARGET calendar: its cut-off now also closes on TARGET holidays.

Only a cut-off still as seeded is changed, so an operator's edit in the admin stays.
"""

from django.db import migrations

SEEDED = {"tz": "Europe/Brussels", "days": [0, 1, 2, 3, 4], "end": "16:00"}


def forwards(apps, schema_editor):
    rail = apps.get_model("payments", "RailDefinition").objects.filter(name="sepa").first()
    if rail is not None and rail.cutoff == SEEDED:
        rail.cutoff = {**SEEDED, "calendar": "target"}
        rail.save(update_fields=["cutoff"])


def backwards(apps, schema_editor):
    rail = apps.get_model("payments", "RailDefinition").objects.filter(name="sepa").first()
    if rail is not None and rail.cutoff == {**SEEDED, "calendar": "target"}:
        rail.cutoff = SEEDED
        rail.save(update_fields=["cutoff"])


class Migration(migrations.Migration):
    dependencies = [("payments", "0005_payer_payee_history_indexes")]

    operations = [migrations.RunPython(forwards, backwards)]
