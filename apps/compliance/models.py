"""Compliance: KYC profiles and limits, sanctions lists, AML rules, decisions, cases and the audit log."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from apps.compliance.choices import (
    CaseKind,
    CaseStatus,
    Decision,
    DocumentStatus,
    KycTier,
    PartyType,
    RiskRating,
    RuleAction,
    RuleKind,
    RuleMode,
    SanctionsFormat,
    SanctionsSource,
)
from apps.compliance.crypto import EncryptedTextField, blind_index, mask_value
from apps.core.models import Organization


class KycProfile(models.Model):
    """What we know about one payer or payee of an organisation (``party_ref`` = the id payments use).

    Names, tax ids, IBANs and phone numbers are encrypted at rest; the ``*_index``
    columns are keyed hashes so staff can still search by exact value.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="kyc_profiles", db_index=False
    )  # uniq_kyc_party
    party_ref = models.CharField(max_length=255)
    party_type = models.CharField(max_length=20, choices=PartyType.choices, default=PartyType.INDIVIDUAL)
    tier = models.CharField(max_length=10, choices=KycTier.choices, default=KycTier.NONE)
    legal_name = EncryptedTextField(blank=True, default="")
    legal_name_index = models.CharField(max_length=64, blank=True, default="")
    tax_id = EncryptedTextField(blank=True, default="", help_text="CPF / CNPJ or other tax id.")
    tax_id_index = models.CharField(max_length=64, blank=True, default="")
    iban = EncryptedTextField(blank=True, default="")
    iban_index = models.CharField(max_length=64, blank=True, default="")
    phone = EncryptedTextField(blank=True, default="")
    phone_index = models.CharField(max_length=64, blank=True, default="")
    date_of_birth = models.DateField(null=True, blank=True)
    nationality = models.CharField(max_length=2, blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    risk_rating = models.CharField(max_length=10, choices=RiskRating.choices, default=RiskRating.LOW)
    is_pep = models.BooleanField(default=False, help_text="Politically exposed person.")
    screening_status = models.CharField(max_length=10, blank=True, default="")
    last_screened_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "party_ref"], name="uniq_kyc_party"),
        ]
        # exact-match lookups of the keyed hashes: plain indexes (a field's db_index would add a
        # LIKE one too, which nothing uses)
        indexes = [
            models.Index(fields=["legal_name_index"], name="idx_kyc_legal_name"),
            models.Index(fields=["tax_id_index"], name="idx_kyc_tax_id"),
            models.Index(fields=["iban_index"], name="idx_kyc_iban"),
            models.Index(fields=["phone_index"], name="idx_kyc_phone"),
        ]
        verbose_name = "KYC profile"

    def __str__(self) -> str:
        return f"{self.party_ref} ({self.tier})"

    def refresh_indexes(self) -> None:
        self.legal_name_index = blind_index(self.legal_name)
        self.tax_id_index = blind_index(self.tax_id)
        self.iban_index = blind_index(self.iban)
        self.phone_index = blind_index(self.phone)

    @property
    def masked_name(self) -> str:
        return mask_value(self.legal_name)


class KycDocument(models.Model):
    """A document supplied for KYC and the result of checking it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    profile = models.ForeignKey(KycProfile, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(
        max_length=40, help_text="passport, id_card, proof_of_address, company_registration…"
    )
    number = EncryptedTextField(blank=True, default="")
    issuing_country = models.CharField(max_length=2, blank=True, default="")
    status = models.CharField(max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING)
    check_provider = models.CharField(max_length=50, blank=True, default="")
    check_result = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)
    expires_on = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} ({self.status})"


class TierLimit(models.Model):
    """Spending limits of a KYC tier. ``organization`` empty = platform default; ``rail`` empty = any rail;
    ``currency`` empty = any currency, amounts in USD equivalent. The most specific row wins."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tier_limits",
        db_index=False,
    )
    tier = models.CharField(max_length=10, choices=KycTier.choices)
    rail = models.CharField(max_length=50, blank=True, default="")
    currency = models.CharField(max_length=4, blank=True, default="")
    per_transaction = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    daily = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    monthly = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "tier", "rail", "currency"], name="uniq_tier_limit"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.tier} {self.rail or '*'} {self.currency or 'USD≈'}"


class SanctionsList(models.Model):
    """One import of a published sanctions list (the newest active one per source is used)."""

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=10, choices=SanctionsSource.choices)
    format = models.CharField(max_length=10, choices=SanctionsFormat.choices)
    origin = models.CharField(max_length=500, help_text="File path or URL imported.")
    published_at = models.CharField(max_length=64, blank=True, default="")
    content_hash = models.CharField(max_length=64)
    entity_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["source", "is_active"], name="idx_sanctions_source")]

    def __str__(self) -> str:
        return f"{self.get_source_display()} ({self.entity_count} entries, {self.imported_at:%Y-%m-%d})"


class SanctionsEntity(models.Model):
    """A listed person, organisation, vessel or aircraft with its aliases and identifiers."""

    id = models.BigAutoField(primary_key=True)
    sanctions_list = models.ForeignKey(
        SanctionsList, on_delete=models.CASCADE, related_name="entities", db_index=False
    )
    external_id = models.CharField(max_length=64)
    entity_type = models.CharField(max_length=20, default="individual")
    name = models.CharField(max_length=500)
    aliases = models.JSONField(default=list, blank=True)
    dates_of_birth = models.JSONField(default=list, blank=True)
    nationalities = models.JSONField(
        default=list, blank=True, help_text="ISO alpha-2 where known, else text."
    )
    countries = models.JSONField(default=list, blank=True)
    crypto_addresses = models.JSONField(default=list, blank=True)
    programs = models.JSONField(default=list, blank=True)
    remarks = models.TextField(blank=True, default="")

    class Meta:
        verbose_name_plural = "sanctions entities"
        indexes = [models.Index(fields=["sanctions_list", "external_id"], name="idx_sanctions_ext")]

    def __str__(self) -> str:
        return self.name


class RiskRule(models.Model):
    """An AML / fraud rule as data. Every edit bumps ``version`` and keeps a ``RiskRuleVersion`` snapshot.

    ``organization`` empty = platform-wide. ``mode`` shadow = evaluated and logged, never enforced.
    """

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="risk_rules",
        db_index=False,
    )
    code = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=40, choices=RuleKind.choices)
    params = models.JSONField(default=dict, blank=True)
    score = models.PositiveIntegerField(default=25)
    action = models.CharField(max_length=10, choices=RuleAction.choices, default=RuleAction.SCORE)
    mode = models.CharField(max_length=10, choices=RuleMode.choices, default=RuleMode.ENFORCE)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "code"], name="uniq_risk_rule_code")]
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} v{self.version} ({self.mode})"


class RiskRuleVersion(models.Model):
    """A frozen copy of a rule as it was at one version (decisions cite ``code`` + ``version``)."""

    id = models.BigAutoField(primary_key=True)
    rule = models.ForeignKey(RiskRule, on_delete=models.CASCADE, related_name="versions", db_index=False)
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "version"], name="uniq_rule_version")]

    def __str__(self) -> str:
        return f"{self.rule.code} v{self.version}"


class PaymentDecision(models.Model):
    """The compliance decision on one payment: outcome, score, every reason and the rule versions used."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # idx_decision_org_created and idx_decision_payment serve these keys
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="payment_decisions", db_index=False
    )
    payment = models.ForeignKey(
        "payments.OrchestrationPayment",
        on_delete=models.CASCADE,
        related_name="compliance_decisions",
        db_index=False,
    )
    decision = models.CharField(max_length=10, choices=Decision.choices)
    score = models.FloatField(default=0)
    reasons = models.JSONField(default=list, blank=True)
    shadow_reasons = models.JSONField(default=list, blank=True)
    rule_versions = models.JSONField(default=dict, blank=True)
    sanctions_hits = models.JSONField(default=list, blank=True)
    payer_tier = models.CharField(max_length=10, blank=True, default="")
    fx = models.JSONField(
        default=dict, blank=True, help_text="The rate table (source, date) and the rates to USD applied."
    )
    duration_ms = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at"], name="idx_decision_org_created"),
            models.Index(fields=["payment", "-created_at"], name="idx_decision_payment"),
        ]

    def __str__(self) -> str:
        return f"{self.decision} ({self.score:g})"


class Case(models.Model):
    """A flagged payment (or counterparty) waiting for a human decision: the review queue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="compliance_cases", db_index=False
    )
    kind = models.CharField(max_length=10, choices=CaseKind.choices, default=CaseKind.PAYMENT)
    payment = models.ForeignKey(
        "payments.OrchestrationPayment",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="compliance_cases",
    )
    decision = models.ForeignKey(
        PaymentDecision, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    profile = models.ForeignKey(
        KycProfile, null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    party_ref = models.CharField(
        max_length=255, blank=True, default="", help_text="The counterparty a re-screening case is about."
    )
    status = models.CharField(max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    risk_score = models.FloatField(default=0)
    amount_usd = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    reasons = models.JSONField(default=list, blank=True)
    sanctions_hits = models.JSONField(default=list, blank=True)
    conversation_excerpt = models.JSONField(default=list, blank=True)
    counterparty_history = models.JSONField(default=dict, blank=True)
    # A payment case opens with the decision; its excerpt and history are gathered just after the
    # decision commits (``services.case_context_gather``): None until then.
    context_at = models.DateTimeField(null=True, blank=True)
    requires_four_eyes = models.BooleanField(default=False)
    escalated = models.BooleanField(default=False)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True, default="")
    sla_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["organization", "status", "-created_at"], name="idx_case_org_status"),
            models.Index(fields=["status", "created_at"], name="idx_case_status_created"),
            # the cases whose context the sweep has yet to gather (a handful at any time)
            models.Index(
                fields=["created_at"],
                condition=models.Q(context_at__isnull=True),
                name="idx_case_context_pending",
            ),
        ]
        permissions = [
            ("decide_case", "Can approve or reject compliance cases"),
            ("assign_case", "Can assign, escalate and request information on cases"),
            ("export_reports", "Can export compliance reports"),
        ]

    def __str__(self) -> str:
        return f"Case {str(self.pk)[:8]} ({self.status})"


class CaseEvent(models.Model):
    """One action on a case (assign, approve, reject, escalate, request information): who, when, note."""

    id = models.BigAutoField(primary_key=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="events")
    action = models.CharField(max_length=30)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_status = models.CharField(max_length=20, blank=True, default="")
    to_status = models.CharField(max_length=20, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} {self.from_status}→{self.to_status}"


class ScreeningResult(models.Model):
    """The outcome of (re-)screening a counterparty against the active lists: a KYC profile, or a
    payee known only from payments (``party_ref``; only hits are kept for those)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    profile = models.ForeignKey(
        KycProfile, null=True, blank=True, on_delete=models.CASCADE, related_name="screenings"
    )
    party_ref = models.CharField(max_length=255, blank=True, default="")
    outcome = models.CharField(max_length=10)  # clear | weak | strong
    hits = models.JSONField(default=list, blank=True)
    lists_version = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.outcome} ({len(self.hits)} hits)"


class DailySummary(models.Model):
    """The compliance summary of one day (decisions, cases opened/closed, SLA breaches)."""

    id = models.BigAutoField(primary_key=True)
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    day = models.DateField()
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "day"], name="uniq_daily_summary")]
        verbose_name_plural = "daily summaries"

    def __str__(self) -> str:
        return f"{self.day}"


class AuditChainHead(models.Model):
    """The single row holding the tip of the audit hash chain; locking it serialises appends."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    sequence = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"#{self.sequence}"


class AuditEntry(models.Model):
    """An append-only, hash-chained record of a security- or money-relevant action.

    ``hash`` = SHA-256 over the entry's canonical content and ``prev_hash``; any
    edit or deletion breaks the chain and ``manage.py verify_audit_log`` names
    the first broken entry. On PostgreSQL a trigger refuses UPDATE and DELETE.
    Foreign keys are unconstrained so deleting users or organisations never
    touches the log.
    """

    id = models.BigAutoField(primary_key=True)
    sequence = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField()
    organization = models.ForeignKey(
        Organization,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_label = models.CharField(max_length=255, default="system")
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True, default="")
    target_id = models.CharField(max_length=100, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=100, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["sequence"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id"], name="idx_audit_target")]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.action}"
