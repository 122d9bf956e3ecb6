import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounting", "0002_initial"),
        ("core", "0003_redundant_indexes"),
    ]

    operations = [
        # The fields' own indexes go (db_index=False: another index starts with the column), without
        # Django's AlterField on the database: for a ForeignKey it drops and re-adds the constraint,
        # which re-checks every row of a large table under lock. Dropping the indexes by their
        # (deterministic) names is all it takes. PostgreSQL's LIKE indexes are not re-created on
        # the way back: nothing queries these columns with LIKE.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="paymentrelationship",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="relationships",
                        to="core.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    ["DROP INDEX IF EXISTS accounting_paymentrelationship_organization_id_ca1bde1a"],
                    reverse_sql=[
                        "CREATE INDEX IF NOT EXISTS accounting_paymentrelationship_organization_id_ca1bde1a ON accounting_paymentrelationship (organization_id)"
                    ],
                ),
            ],
        ),
    ]
