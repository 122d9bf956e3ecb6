import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0003_platform_accounts_webhooks_flows_outbox"),
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
                    model_name="conversation",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="conversations",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="conversationmessage",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="messages",
                        to="conversations.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="flowrun",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="flow_runs",
                        to="conversations.conversation",
                    ),
                ),
                migrations.AlterField(
                    model_name="outboundmessage",
                    name="conversation",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="outbound_messages",
                        to="conversations.conversation",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [
                        "DROP INDEX IF EXISTS conversations_conversation_organization_id_474f7c7e",
                        "DROP INDEX IF EXISTS conversations_conversationmessage_conversation_id_f76b8227",
                        "DROP INDEX IF EXISTS conversations_flowrun_conversation_id_b7fa2b3c",
                        "DROP INDEX IF EXISTS conversations_outboundmessage_conversation_id_132c0191",
                    ],
                    reverse_sql=[
                        "CREATE INDEX IF NOT EXISTS conversations_conversation_organization_id_474f7c7e ON conversations_conversation (organization_id)",
                        "CREATE INDEX IF NOT EXISTS conversations_conversationmessage_conversation_id_f76b8227 ON conversations_conversationmessage (conversation_id)",
                        "CREATE INDEX IF NOT EXISTS conversations_flowrun_conversation_id_b7fa2b3c ON conversations_flowrun (conversation_id)",
                        "CREATE INDEX IF NOT EXISTS conversations_outboundmessage_conversation_id_132c0191 ON conversations_outboundmessage (conversation_id)",
                    ],
                ),
            ],
        ),
    ]
