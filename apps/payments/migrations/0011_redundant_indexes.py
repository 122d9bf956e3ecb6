import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_redundant_indexes"),
        ("core", "0003_redundant_indexes"),
        ("payments", "0010_refund_in_flight"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
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
                    model_name="orchestrationpayment",
                    name="conversation_message",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="payments",
                        to="conversations.conversationmessage",
                    ),
                ),
                migrations.AlterField(
                    model_name="orchestrationpayment",
                    name="created_by_api_key",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="core.organizationapikey",
                    ),
                ),
                migrations.AlterField(
                    model_name="orchestrationpayment",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="payments",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="paymentattempt",
                    name="payment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="rail_attempts",
                        to="payments.orchestrationpayment",
                    ),
                ),
                migrations.AlterField(
                    model_name="paymentevent",
                    name="payment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="payments.orchestrationpayment",
                    ),
                ),
                migrations.AlterField(
                    model_name="railfeeschedule",
                    name="rail",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="fees",
                        to="payments.raildefinition",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [
                        "DROP INDEX IF EXISTS payments_orchestrationpayment_conversation_message_id_50c054d5",
                        "DROP INDEX IF EXISTS payments_orchestrationpayment_created_by_api_key_id_cb19eac7",
                        "DROP INDEX IF EXISTS payments_orchestrationpa_created_by_api_key_id_cb19eac7_like",
                        "DROP INDEX IF EXISTS payments_orchestrationpayment_organization_id_ab55cf09",
                        "DROP INDEX IF EXISTS payments_paymentattempt_payment_id_00f3a0be",
                        "DROP INDEX IF EXISTS payments_paymentevent_payment_id_1fde19d5",
                        "DROP INDEX IF EXISTS payments_railfeeschedule_rail_id_705198a9",
                    ],
                    reverse_sql=[
                        "CREATE INDEX IF NOT EXISTS payments_orchestrationpayment_conversation_message_id_50c054d5 ON payments_orchestrationpayment (conversation_message_id)",
                        "CREATE INDEX IF NOT EXISTS payments_orchestrationpayment_created_by_api_key_id_cb19eac7 ON payments_orchestrationpayment (created_by_api_key_id)",
                        "CREATE INDEX IF NOT EXISTS payments_orchestrationpayment_organization_id_ab55cf09 ON payments_orchestrationpayment (organization_id)",
                        "CREATE INDEX IF NOT EXISTS payments_paymentattempt_payment_id_00f3a0be ON payments_paymentattempt (payment_id)",
                        "CREATE INDEX IF NOT EXISTS payments_paymentevent_payment_id_1fde19d5 ON payments_paymentevent (payment_id)",
                        "CREATE INDEX IF NOT EXISTS payments_railfeeschedule_rail_id_705198a9 ON payments_railfeeschedule (rail_id)",
                    ],
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="orchestrationpayment",
            index=models.Index(fields=["created_by_api_key"], name="idx_pay_api_key"),
        ),
    ]
