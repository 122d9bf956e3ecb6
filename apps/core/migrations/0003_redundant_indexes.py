import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0002_roles"),
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
                    model_name="membership",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="memberships",
                        to="core.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    ["DROP INDEX IF EXISTS core_membership_organization_id_db2cbefc"],
                    reverse_sql=[
                        "CREATE INDEX IF NOT EXISTS core_membership_organization_id_db2cbefc ON core_membership (organization_id)"
                    ],
                ),
            ],
        ),
    ]
