"""Orchestrated payments, their event timeline and rail health."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from djmoney.models.fields import MoneyField

from apps.core.models import Organization
from apps.payments.choices import REFUND_IN_FLIGHT, OutboxStatus, PaymentStatus, RefundStatus


class OrchestrationPayment(models.Model):
    """A payment AgentPay routed to a rail (the design's ``orchestration_payments``).

    ``amount`` is what the payer sends (DECIMAL(19,4) + ISO currency, via
    django-money); status only changes through ``payment_transition``.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # no single-column indexes where a composite one below starts with the column (every index
    # is written on each INSERT and on each UPDATE that changes an indexed column, e.g. status)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="payments", db_index=False
    )
    conversation = models.ForeignKey(
        "conversations.Conversation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments",
    )
    conversation_message = models.ForeignKey(
        "conversations.ConversationMessage",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="payments",
        db_index=False,  # idx_pay_conversation_msg
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_api_key = models.ForeignKey(
        "core.OrganizationAPIKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,  # idx_pay_api_key: a plain index, not also a LIKE one for a key's id
    )
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None, currency_max_length=4)
    payee_currency = models.CharField(max_length=4, blank=True, default="")
    from_country = models.CharField(max_length=2, blank=True, default="")
    to_country = models.CharField(max_length=2, blank=True, default="")
    payer_ref = models.CharField(
        max_length=255, blank=True, default="", help_text="Who pays (platform user id)."
    )
    payee_ref = models.CharField(
        max_length=255, blank=True, default="", help_text="Who is paid (counterparty id)."
    )
    payee_name = models.CharField(max_length=255, blank=True, default="")
    payee_identifiers = models.JSONField(default=dict, blank=True)
    purpose = models.CharField(max_length=255, blank=True, default="")
    urgency = models.CharField(max_length=20, blank=True, default="normal")
    selected_rail = models.CharField(max_length=50, blank=True, default="")
    alternative_rails = models.JSONField(default=list, blank=True)
    cost_breakdown = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=50, choices=PaymentStatus.choices, default=PaymentStatus.CREATED)
    explanation = models.TextField(blank=True, default="")
    external_payment_id = models.CharField(max_length=255, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    failure_reason = models.CharField(max_length=255, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(
        max_length=255, blank=True, default="", help_text="Client key; one payment per organisation and key."
    )
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="idx_status"),
            models.Index(fields=["conversation_message"], name="idx_pay_conversation_msg"),
            models.Index(fields=["organization", "-created_at"], name="idx_pay_org_created"),
            # a payer's and a payee's history: compliance limits, velocity and AML rules
            models.Index(fields=["organization", "payer_ref", "-created_at"], name="idx_pay_org_payer"),
            models.Index(fields=["organization", "payee_ref", "-created_at"], name="idx_pay_org_payee"),
            models.Index(fields=["selected_rail", "external_payment_id"], name="idx_pay_rail_external"),
            models.Index(fields=["created_by_api_key"], name="idx_pay_api_key"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="uniq_pay_org_idempotency_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.amount} via {self.selected_rail or '?'} ({self.status})"


class PaymentEvent(models.Model):
    """One status change of a payment: who, when, from, to, why. Append-only."""

    id = models.BigAutoField(primary_key=True)
    payment = models.ForeignKey(
        OrchestrationPayment, on_delete=models.CASCADE, related_name="events", db_index=False
    )  # idx_payevent_payment
    from_status = models.CharField(max_length=50, blank=True, default="")
    to_status = models.CharField(max_length=50)
    actor = models.CharField(max_length=255, default="system")
    reason = models.CharField(max_length=500, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # when the change happened (set as the event is built, so events written together in one
    # INSERT keep their own times), not when the row was inserted
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["payment", "created_at"], name="idx_payevent_payment")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_status or '∅'} → {self.to_status}"


class PaymentRailStatus(models.Model):
    """Observed health of a rail (the design's ``payment_rail_status``)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    rail_name = models.CharField(max_length=50, unique=True)
    is_available = models.BooleanField(default=True)
    circuit_state = models.CharField(max_length=10, default="closed")
    last_check_at = models.DateTimeField(null=True, blank=True)
    error_rate_1h = models.FloatField(null=True, blank=True)
    avg_latency_ms = models.IntegerField(null=True, blank=True)
    sample_size_1h = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "payment rail status"

    def __str__(self) -> str:
        return f"{self.rail_name}: {'up' if self.is_available else 'down'}"


class RailDefinition(models.Model):
    """What a rail option can carry (capabilities as data, editable in the admin).

    Empty country/currency lists mean "any". ``required_identifiers`` lists payee
    identifiers of which at least one must be known (empty: none needed, e.g. a
    payment link). ``sandbox_*`` drive the rail's sandbox backend.
    """

    name = models.CharField(max_length=50, unique=True)
    provider = models.CharField(max_length=50, help_text="Package under apps/payments/rails/.")
    display_name = models.CharField(max_length=100)
    description = models.CharField(max_length=255, blank=True, default="")
    enabled = models.BooleanField(default=True)
    currencies = models.JSONField(default=list, help_text="Payer currencies accepted.")
    payee_currencies = models.JSONField(default=list, blank=True)
    payer_countries = models.JSONField(default=list, blank=True)
    payee_countries = models.JSONField(default=list, blank=True)
    cross_currency = models.BooleanField(default=False, help_text="Converts between currencies.")
    min_amount = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    max_amount = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    limit_currency = models.CharField(max_length=4, default="EUR")
    settlement_seconds = models.PositiveIntegerField(help_text="Typical time until the payee has the money.")
    operates_24x7 = models.BooleanField(default=True)
    cutoff = models.JSONField(
        default=dict, blank=True, help_text='e.g. {"tz": "Europe/Brussels", "end": "16:00"}'
    )
    required_identifiers = models.JSONField(default=list, blank=True)
    min_kyc_tier = models.CharField(max_length=10, default="basic")
    supports_refund = models.BooleanField(default=True)
    supports_recurring = models.BooleanField(default=False)
    supports_qr = models.BooleanField(default=False)
    fx_margin_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    sandbox_latency_seconds = models.FloatField(default=2.0)
    sandbox_failure_rate = models.FloatField(default=0.0)
    sandbox_available = models.BooleanField(default=True, help_text="Off = simulate a provider outage.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.display_name


class RailFeeSchedule(models.Model):
    """A rail's price list for one payer currency ("" = any): fixed + percent, bounded."""

    rail = models.ForeignKey(RailDefinition, on_delete=models.CASCADE, related_name="fees", db_index=False)
    currency = models.CharField(max_length=4, blank=True, default="")
    fixed_fee = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    fixed_fee_currency = models.CharField(max_length=4, default="EUR")
    percent_fee = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    cross_border_percent = models.DecimalField(max_digits=7, decimal_places=4, default=0)
    min_fee = models.DecimalField(max_digits=19, decimal_places=4, default=0)
    max_fee = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    notes = models.CharField(max_length=255, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rail", "currency"], name="uniq_fee_rail_currency")]
        ordering = ["rail__name", "currency"]

    def __str__(self) -> str:
        return f"{self.rail.name} {self.currency or '*'}: {self.fixed_fee} + {self.percent_fee}%"


class PaymentAttempt(models.Model):
    """One try of a payment on one rail. Its id is the provider idempotency key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(
        OrchestrationPayment, on_delete=models.CASCADE, related_name="rail_attempts", db_index=False
    )  # uniq_attempt_number
    number = models.PositiveSmallIntegerField()
    rail = models.CharField(max_length=50)
    status = models.CharField(max_length=20, default="pending")  # pending|initiated|succeeded|failed
    external_id = models.CharField(max_length=255, blank=True, default="")
    error = models.CharField(max_length=500, blank=True, default="")
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    initiated_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["payment", "number"], name="uniq_attempt_number")]
        indexes = [
            models.Index(fields=["rail", "created_at"], name="idx_attempt_rail_created"),
            models.Index(fields=["rail", "external_id"], name="idx_attempt_rail_external"),
        ]
        ordering = ["payment", "number"]

    def __str__(self) -> str:
        return f"#{self.number} {self.rail} ({self.status})"


class PaymentRefund(models.Model):
    """A refund of (part of) a settled payment, asked of the rail that settled it.

    Its id is the provider's idempotency key; it is sent through the outbox and its
    outcome polled. The payment becomes ``refunded`` when the rails have confirmed refunds
    adding up to its amount.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(OrchestrationPayment, on_delete=models.CASCADE, related_name="refunds")
    attempt = models.ForeignKey(
        "PaymentAttempt",
        on_delete=models.PROTECT,
        related_name="refunds",
        help_text="The attempt that settled.",
    )
    rail = models.CharField(max_length=50)
    amount = MoneyField(max_digits=19, decimal_places=4, default_currency=None, currency_max_length=4)
    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.REQUESTED)
    reason = models.CharField(max_length=500, blank=True, default="")
    requested_by = models.CharField(max_length=255, default="system")
    external_id = models.CharField(max_length=255, blank=True, default="")
    failure_reason = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # partial refunds one after another: at most one in flight per payment
            models.UniqueConstraint(
                fields=["payment"],
                condition=models.Q(status__in=list(REFUND_IN_FLIGHT)),
                name="uniq_refund_in_flight_per_payment",
            )
        ]
        indexes = [models.Index(fields=["status", "updated_at"], name="idx_refund_status")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"refund of {self.amount} ({self.status})"


class OutboxMessage(models.Model):
    """Work to do after a commit (transactional outbox), claimed with skip_locked.

    Written in the same transaction as the payment change, so the work exists
    if and only if the change committed; a worker that dies mid-task leaves the
    row pending and the drain task picks it up again.
    """

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=30)  # initiate | refund
    payment = models.ForeignKey(OrchestrationPayment, on_delete=models.CASCADE, related_name="outbox")
    attempt = models.ForeignKey(PaymentAttempt, null=True, blank=True, on_delete=models.CASCADE)
    refund = models.ForeignKey(PaymentRefund, null=True, blank=True, on_delete=models.CASCADE)
    status = models.CharField(max_length=20, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    tries = models.PositiveSmallIntegerField(default=0)
    available_at = models.DateTimeField()
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "available_at"], name="idx_outbox_pending")]

    def __str__(self) -> str:
        return f"{self.kind} {self.payment_id} ({self.status})"


class RailWebhookEvent(models.Model):
    """A verified provider callback, stored raw before it is processed (one row per event id)."""

    id = models.BigAutoField(primary_key=True)
    rail = models.CharField(max_length=50)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100, blank=True, default="")
    payload = models.JSONField()
    headers = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=20, default="received")  # received|processed|ignored|error
    error = models.CharField(max_length=500, blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rail", "event_id"], name="uniq_rail_webhook_event")]

    def __str__(self) -> str:
        return f"{self.rail}:{self.event_id}"


class IdempotencyRecord(models.Model):
    """An ``Idempotency-Key`` seen on a POST: the request fingerprint and the stored answer."""

    id = models.BigAutoField(primary_key=True)
    scope = models.CharField(max_length=255, help_text="Caller (organisation + principal) and endpoint.")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.CharField(max_length=20, default="in_flight")  # in_flight|completed
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="uniq_idempotency_scope_key")]
        indexes = [models.Index(fields=["expires_at"], name="idx_idempotency_expiry")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class UserPreferences(models.Model):
    """A person's routing preferences: preferred rails, cost-versus-speed weight, default currency."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="payment_preferences"
    )
    preferred_rails = models.JSONField(default=list, blank=True)
    cost_weight = models.FloatField(default=0.7, help_text="1 = cheapest only, 0 = fastest only.")
    default_currency = models.CharField(max_length=4, blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "user preferences"

    def __str__(self) -> str:
        return f"preferences of {self.user_id}"


class FxRateSnapshot(models.Model):
    """One day of reference rates (units per 1 EUR), as fetched from the ECB."""

    id = models.BigAutoField(primary_key=True)
    source = models.CharField(max_length=30, default="ecb")
    as_of = models.DateTimeField()
    rates = models.JSONField()
    fetched_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["source", "as_of"], name="uniq_fx_source_asof")]

    def __str__(self) -> str:
        return f"{self.source} {self.as_of:%Y-%m-%d}"
