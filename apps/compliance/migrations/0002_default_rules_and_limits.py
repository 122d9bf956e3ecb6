"""Seed the platform rule set and KYC tier limits (editable in the admin afterwards)."""

from django.db import migrations


def seed(apps, schema_editor):
    from apps.compliance.rules import DEFAULT_LIMITS, DEFAULT_RULES

    RiskRule = apps.get_model("compliance", "RiskRule")
    RiskRuleVersion = apps.get_model("compliance", "RiskRuleVersion")
    TierLimit = apps.get_model("compliance", "TierLimit")
    AuditChainHead = apps.get_model("compliance", "AuditChainHead")
    for spec in DEFAULT_RULES:
        if RiskRule.objects.filter(organization__isnull=True, code=spec["code"]).exists():
            continue
        rule = RiskRule.objects.create(organization=None, version=1, mode="enforce", **spec)
        snapshot = {k: spec[k] for k in ("code", "name", "kind", "params", "score", "action")}
        RiskRuleVersion.objects.create(rule=rule, version=1, snapshot={**snapshot, "mode": "enforce"})
    for spec in DEFAULT_LIMITS:
        TierLimit.objects.get_or_create(organization=None, tier=spec["tier"], rail="", currency="", defaults=spec)
    AuditChainHead.objects.get_or_create(pk=1, defaults={"sequence": 0, "last_hash": "0" * 64})


class Migration(migrations.Migration):
    dependencies = [("compliance", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
