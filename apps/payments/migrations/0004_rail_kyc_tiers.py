"""Re-apply the seeded catalogue: domestic rails and Stripe need no payer KYC tier, Wise basic."""

from django.db import migrations


def reseed(apps, schema_editor):
    from apps.payments.rails.seed import rail_catalog_seed

    rail_catalog_seed(
        rail_model=apps.get_model("payments", "RailDefinition"),
        fee_model=apps.get_model("payments", "RailFeeSchedule"),
        status_model=apps.get_model("payments", "PaymentRailStatus"),
    )


class Migration(migrations.Migration):
    dependencies = [("payments", "0003_seed_rail_catalog")]

    operations = [migrations.RunPython(reseed, migrations.RunPython.noop)]
