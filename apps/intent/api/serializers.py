from __future__ import annotations

from rest_framework import serializers

from apps.conversations.models import ConversationMessage
from apps.intent.registry import INTENT_NAMES, TIERS


class AnalyzeRequestSerializer(serializers.Serializer):
    text = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text="The chat message (at most INTENT_MAX_TEXT_BYTES of UTF-8, 100,000 by default).",
    )
    language = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=16,
        help_text="en, pt or es; anything else (or nothing) is detected.",
    )
    now = serializers.DateTimeField(
        required=False, allow_null=True, help_text="Message time for relative dates."
    )
    conversation_id = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="Resolve references ('make it $450', 'yes', 'him') from this conversation's context.",
    )


class AmountSerializer(serializers.Serializer):
    value = serializers.DecimalField(max_digits=20, decimal_places=6, coerce_to_string=True)
    currency = serializers.CharField(allow_null=True)
    role = serializers.CharField(help_text="amount | total | share")
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()


class DateSerializer(serializers.Serializer):
    value = serializers.CharField()
    kind = serializers.CharField(help_text="date | deadline")
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()


class PartySerializer(serializers.Serializer):
    kind = serializers.CharField()
    value = serializers.CharField()
    valid = serializers.BooleanField(allow_null=True)
    start = serializers.IntegerField()
    end = serializers.IntegerField()
    text = serializers.CharField()
    subkind = serializers.CharField(allow_null=True)


class IntentResultSerializer(serializers.Serializer):
    intent = serializers.CharField(help_text=" | ".join(INTENT_NAMES))
    confidence = serializers.FloatField(min_value=0, max_value=1)
    tier = serializers.CharField(help_text=" | ".join(TIERS))
    language = serializers.CharField(help_text="en | pt | es | und")
    amounts = AmountSerializer(many=True)
    dates = DateSerializer(many=True)
    parties = PartySerializer(many=True)
    recurrence = serializers.CharField(
        allow_null=True, help_text="RFC 5545 RRULE value, e.g. FREQ=MONTHLY;BYMONTHDAY=1"
    )
    purpose = serializers.CharField(allow_null=True)
    urgency = serializers.CharField(allow_null=True)
    rail_hint = serializers.CharField(allow_null=True)
    processing_time_ms = serializers.FloatField()
    context_used = serializers.ListField(child=serializers.CharField())
    refers_to = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class MessageIntentSerializer(serializers.ModelSerializer):
    message_id = serializers.UUIDField(source="id")

    class Meta:
        model = ConversationMessage
        fields = [
            "message_id",
            "sender_id",
            "sender_name",
            "message_text",
            "language",
            "detected_intent",
            "confidence_score",
            "intent_tier",
            "extracted_entities",
            "processing_time_ms",
            "created_at",
        ]
        read_only_fields = fields
