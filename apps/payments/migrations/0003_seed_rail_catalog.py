"""Seed the six rails (seven options: SEPA SCT and SCT Inst); data in apps/payments/rails/seed.py."""

from django.db import migrations


def seed(apps, schema_editor):
    from apps.payments.rails.seed import rail_catalog_seed

    rail_catalog_seed(
        rail_model=apps.get_model("payments", "RailDefinition"),
        fee_model=apps.get_model("payments", "RailFeeSchedule"),
        status_model=apps.get_model("payments", "PaymentRailStatus"),
    )


class Migration(migrations.Migration):
    dependencies = [("payments", "0002_rails_outbox_idempotency")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
