import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0005_case_context_at"),
        ("core", "0003_redundant_indexes"),
        ("payments", "0011_redundant_indexes"),
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
                    model_name="case",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="compliance_cases",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="dailysummary",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="kycprofile",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="kyc_profiles",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="paymentdecision",
                    name="organization",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="payment_decisions",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="paymentdecision",
                    name="payment",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="compliance_decisions",
                        to="payments.orchestrationpayment",
                    ),
                ),
                migrations.AlterField(
                    model_name="riskrule",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="risk_rules",
                        to="core.organization",
                    ),
                ),
                migrations.AlterField(
                    model_name="riskruleversion",
                    name="rule",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="versions",
                        to="compliance.riskrule",
                    ),
                ),
                migrations.AlterField(
                    model_name="sanctionsentity",
                    name="sanctions_list",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="entities",
                        to="compliance.sanctionslist",
                    ),
                ),
                migrations.AlterField(
                    model_name="tierlimit",
                    name="organization",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tier_limits",
                        to="core.organization",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    [
                        "DROP INDEX IF EXISTS compliance_case_organization_id_3cf545b1",
                        "DROP INDEX IF EXISTS compliance_dailysummary_organization_id_665f2c7b",
                        "DROP INDEX IF EXISTS compliance_kycprofile_organization_id_ce25356f",
                        "DROP INDEX IF EXISTS compliance_paymentdecision_organization_id_18f8c251",
                        "DROP INDEX IF EXISTS compliance_paymentdecision_payment_id_32284c89",
                        "DROP INDEX IF EXISTS compliance_riskrule_organization_id_3b2f217f",
                        "DROP INDEX IF EXISTS compliance_riskruleversion_rule_id_df050249",
                        "DROP INDEX IF EXISTS compliance_sanctionsentity_sanctions_list_id_53162830",
                        "DROP INDEX IF EXISTS compliance_tierlimit_organization_id_d9bd9f04",
                    ],
                    reverse_sql=[
                        "CREATE INDEX IF NOT EXISTS compliance_case_organization_id_3cf545b1 ON compliance_case (organization_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_dailysummary_organization_id_665f2c7b ON compliance_dailysummary (organization_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_kycprofile_organization_id_ce25356f ON compliance_kycprofile (organization_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_paymentdecision_organization_id_18f8c251 ON compliance_paymentdecision (organization_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_paymentdecision_payment_id_32284c89 ON compliance_paymentdecision (payment_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_riskrule_organization_id_3b2f217f ON compliance_riskrule (organization_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_riskruleversion_rule_id_df050249 ON compliance_riskruleversion (rule_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_sanctionsentity_sanctions_list_id_53162830 ON compliance_sanctionsentity (sanctions_list_id)",
                        "CREATE INDEX IF NOT EXISTS compliance_tierlimit_organization_id_d9bd9f04 ON compliance_tierlimit (organization_id)",
                    ],
                ),
            ],
        ),
        migrations.AlterField(
            model_name="kycprofile",
            name="iban_index",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="kycprofile",
            name="legal_name_index",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="kycprofile",
            name="phone_index",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AlterField(
            model_name="kycprofile",
            name="tax_id_index",
            field=models.CharField(blank=True, default="", max_length=64),
        ),
        migrations.AddIndex(
            model_name="kycprofile",
            index=models.Index(fields=["legal_name_index"], name="idx_kyc_legal_name"),
        ),
        migrations.AddIndex(
            model_name="kycprofile",
            index=models.Index(fields=["tax_id_index"], name="idx_kyc_tax_id"),
        ),
        migrations.AddIndex(
            model_name="kycprofile",
            index=models.Index(fields=["iban_index"], name="idx_kyc_iban"),
        ),
        migrations.AddIndex(
            model_name="kycprofile",
            index=models.Index(fields=["phone_index"], name="idx_kyc_phone"),
        ),
    ]
