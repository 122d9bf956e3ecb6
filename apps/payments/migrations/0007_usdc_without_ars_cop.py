"""USDC stops offering ARS and COP payouts: no shipped rate source covers them (the ECB
publishes neither), so every such request failed with "Unsupported currency". An operator
who keeps PAYMENTS_FX_SUPPLEMENTARY_FILE fresh can add them back in the admin."""

from django.db import migrations

DROPPED = ("ARS", "COP")


def forwards(apps, schema_editor):
    rail = apps.get_model("payments", "RailDefinition").objects.filter(name="usdc").first()
    if rail is not None and any(c in rail.payee_currencies for c in DROPPED):
        rail.payee_currencies = [c for c in rail.payee_currencies if c not in DROPPED]
        rail.save(update_fields=["payee_currencies"])


def backwards(apps, schema_editor):
    rail = apps.get_model("payments", "RailDefinition").objects.filter(name="usdc").first()
    if rail is not None:
        rail.payee_currencies = [*rail.payee_currencies, *(c for c in DROPPED if c not in rail.payee_currencies)]
        rail.save(update_fields=["payee_currencies"])


class Migration(migrations.Migration):
    dependencies = [("payments", "0006_sepa_target_calendar")]

    operations = [migrations.RunPython(forwards, backwards)]
