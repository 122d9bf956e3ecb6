from __future__ import annotations

from decimal import Decimal

from rest_framework import serializers

from apps.core.fastserializers import FastRepresentationMixin, InputFieldsMixin
from apps.payments.models import (
    OrchestrationPayment,
    PaymentAttempt,
    PaymentEvent,
    PaymentRailStatus,
    PaymentRefund,
)
from apps.payments.types import PaymentRequest


class MoneySerializer(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=19, decimal_places=4)
    currency = serializers.CharField()


class PaymentEventSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = PaymentEvent
        fields = ("from_status", "to_status", "actor", "reason", "data", "created_at")


class PaymentSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    amount = serializers.DecimalField(max_digits=19, decimal_places=4, source="amount.amount")
    currency = serializers.CharField(source="amount_currency")

    class Meta:
        model = OrchestrationPayment
        fields = (
            "id",
            "status",
            "amount",
            "currency",
            "payee_currency",
            "from_country",
            "to_country",
            "payer_ref",
            "payee_ref",
            "payee_name",
            "purpose",
            "urgency",
            "selected_rail",
            "alternative_rails",
            "cost_breakdown",
            "explanation",
            "external_payment_id",
            "attempts",
            "failure_reason",
            "conversation",
            "conversation_message",
            "completed_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


IDENTIFIER_KEYS = (
    "pix_key",
    "iban",
    "bic",
    "payid",
    "bsb_account",
    "eth_address",
    "email",
    "stripe_account",
    "wise_recipient",
)


class PaymentOrchestrationRequestSerializer(InputFieldsMixin, serializers.Serializer):
    """Input of quote and orchestrate (contract 2's ``PaymentRequest``)."""

    amount = serializers.DecimalField(max_digits=19, decimal_places=4, min_value=Decimal("0.0001"))
    currency = serializers.CharField(min_length=3, max_length=4)
    payer_country = serializers.CharField(min_length=2, max_length=2)
    payee_country = serializers.CharField(min_length=2, max_length=2)
    payee_currency = serializers.CharField(min_length=3, max_length=4, required=False, allow_null=True)
    urgency = serializers.ChoiceField(choices=["instant", "normal", "low"], default="normal")
    payee_identifiers = serializers.DictField(child=serializers.CharField(max_length=255), required=False)
    preferred_rail = serializers.CharField(max_length=50, required=False, allow_null=True, allow_blank=True)
    payer_ref = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    payee_ref = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    payee_name = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    purpose = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)
    # a plain string (en | pt | es) so the schema's language enums of other apps don't collide
    language = serializers.CharField(max_length=5, default="en", help_text="en, pt or es")
    conversation = serializers.UUIDField(required=False, allow_null=True)
    fx_lock_id = serializers.CharField(
        max_length=64,
        required=False,
        allow_null=True,
        allow_blank=True,
        help_text="A quote's fx_lock_id: convert at its locked rate while it holds.",
    )

    def validate_language(self, value: str) -> str:
        code = value[:2].lower()
        if code not in ("en", "pt", "es"):
            raise serializers.ValidationError("One of en, pt, es.")
        return code

    def validate_payee_identifiers(self, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(IDENTIFIER_KEYS))
        if unknown:
            raise serializers.ValidationError(f"Unknown identifier types: {', '.join(unknown)}.")
        return value

    def to_request(self) -> PaymentRequest:
        data = dict(self.validated_data)
        data.pop("conversation", None)
        data["preferred_rail"] = data.get("preferred_rail") or None
        data["payee_identifiers"] = data.get("payee_identifiers") or {}
        data["fx_lock_id"] = data.get("fx_lock_id") or None
        return PaymentRequest(**data)


class QuoteSerializer(serializers.Serializer):
    rail = serializers.CharField()
    currency = serializers.CharField()
    amount = serializers.CharField()
    fee_fixed = serializers.CharField()
    fee_percent = serializers.CharField()
    fee_total = serializers.CharField()
    fx_rate = serializers.CharField()
    fx_margin_percent = serializers.CharField()
    fx_cost = serializers.CharField()
    time_value_cost = serializers.CharField()
    total_cost = serializers.CharField()
    payer_total = serializers.CharField()
    payee_currency = serializers.CharField()
    payee_amount = serializers.CharField()
    eta_seconds = serializers.IntegerField(help_text="Until the payee has the money (cut-offs included).")
    fx_as_of = serializers.CharField(allow_null=True)
    settles_at = serializers.DateTimeField(allow_null=True)
    eta_business_days = serializers.IntegerField(allow_null=True)


class RailOptionSerializer(serializers.Serializer):
    rail = serializers.CharField()
    display_name = serializers.CharField()
    score = serializers.FloatField()
    success_rate = serializers.FloatField()
    eta_text = serializers.CharField()
    quote = QuoteSerializer()
    reasons = serializers.ListField(child=serializers.CharField())


class RoutingDecisionSerializer(serializers.Serializer):
    selected = RailOptionSerializer()
    alternatives = RailOptionSerializer(many=True)
    excluded = serializers.DictField(child=serializers.CharField())
    explanation = serializers.CharField()
    explanation_data = serializers.DictField()
    fx_lock_id = serializers.CharField(
        allow_null=True, help_text="Cross-currency quotes: pass it to orchestrate to keep this rate."
    )
    fx_lock_expires_at = serializers.DateTimeField(allow_null=True)


class AlternativesSerializer(serializers.Serializer):
    selected_rail = serializers.CharField()
    cost_breakdown = serializers.DictField()
    alternatives = RailOptionSerializer(many=True)
    tried_rails = serializers.ListField(child=serializers.CharField())


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255, required=False, default="", allow_blank=True)


class RefundRequestSerializer(ReasonSerializer):
    amount = serializers.DecimalField(
        max_digits=19,
        decimal_places=4,
        required=False,
        allow_null=True,
        default=None,
        help_text="How much to refund, in the payment's currency (at most what is left to refund). "
        "Omitted: all that is left.",
    )


class PaymentAttemptSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    class Meta:
        model = PaymentAttempt
        fields = (
            "id",
            "number",
            "rail",
            "status",
            "external_id",
            "error",
            "latency_ms",
            "created_at",
            "initiated_at",
            "finished_at",
        )
        read_only_fields = fields


class PaymentRefundSerializer(FastRepresentationMixin, serializers.ModelSerializer):
    # a plain string, so the schema's payment status enum keeps its name
    status = serializers.CharField(read_only=True, help_text="requested, pending, succeeded or failed")
    amount = serializers.DecimalField(max_digits=19, decimal_places=4, source="amount.amount")
    currency = serializers.CharField(source="amount_currency")

    class Meta:
        model = PaymentRefund
        fields = (
            "id",
            "status",
            "amount",
            "currency",
            "rail",
            "reason",
            "requested_by",
            "external_id",
            "failure_reason",
            "created_at",
            "completed_at",
        )
        read_only_fields = fields


class PaymentDetailSerializer(PaymentSerializer):
    events = PaymentEventSerializer(many=True, read_only=True)
    rail_attempts = PaymentAttemptSerializer(many=True, read_only=True)
    refunds = PaymentRefundSerializer(many=True, read_only=True)
    metadata = serializers.JSONField(read_only=True)

    class Meta(PaymentSerializer.Meta):
        fields = (*PaymentSerializer.Meta.fields, "metadata", "events", "rail_attempts", "refunds")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]


class RailStatusSerializer(serializers.ModelSerializer):
    class Meta:
        model = PaymentRailStatus
        fields = (
            "rail_name",
            "is_available",
            "circuit_state",
            "last_check_at",
            "error_rate_1h",
            "avg_latency_ms",
            "sample_size_1h",
            "last_error",
        )
        read_only_fields = fields


class RailSummarySerializer(serializers.Serializer):
    name = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    settlement_seconds = serializers.IntegerField()
    status = RailStatusSerializer(allow_null=True)


class RailCapabilitiesSerializer(serializers.Serializer):
    name = serializers.CharField()
    provider = serializers.CharField()
    display_name = serializers.CharField()
    description = serializers.CharField()
    currencies = serializers.ListField(child=serializers.CharField())
    payee_currencies = serializers.ListField(child=serializers.CharField())
    payer_countries = serializers.ListField(child=serializers.CharField())
    payee_countries = serializers.ListField(child=serializers.CharField())
    cross_currency = serializers.BooleanField()
    min_amount = serializers.CharField()
    max_amount = serializers.CharField(allow_null=True)
    limit_currency = serializers.CharField()
    settlement_seconds = serializers.IntegerField()
    operates_24x7 = serializers.BooleanField()
    cutoff = serializers.DictField()
    required_identifiers = serializers.ListField(child=serializers.CharField())
    min_kyc_tier = serializers.CharField()
    supports_refund = serializers.BooleanField()
    supports_recurring = serializers.BooleanField()
    supports_qr = serializers.BooleanField()
    fx_margin_percent = serializers.CharField()
    fees = serializers.DictField()


class UserPreferencesSerializer(serializers.Serializer):
    preferred_rails = serializers.ListField(
        child=serializers.CharField(max_length=50), max_length=10, default=list
    )
    cost_weight = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.7)
    default_currency = serializers.CharField(max_length=4, allow_blank=True, default="")


class WebhookAckSerializer(serializers.Serializer):
    received = serializers.BooleanField()
    duplicate = serializers.BooleanField()
    event_id = serializers.CharField()
