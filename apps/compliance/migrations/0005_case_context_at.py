from django.db import migrations, models


def existing_cases_were_gathered_at_opening(apps, schema_editor):
    # Until this migration a case's excerpt and history were read when it opened.
    Case = apps.get_model("compliance", "Case")
    Case.objects.filter(context_at__isnull=True).update(context_at=models.F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0004_decision_fx_rescreen_parties"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="context_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(existing_cases_were_gathered_at_opening, migrations.RunPython.noop),
        migrations.AddIndex(
            model_name="case",
            index=models.Index(
                condition=models.Q(("context_at__isnull", True)),
                fields=["created_at"],
                name="idx_case_context_pending",
            ),
        ),
    ]
