"""Serializers of the conversations REST API (``/api/v1/conversations``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.conversations.choices import ConversationStatus, OutboundStatus
from apps.conversations.models import Conversation, ConversationMessage, FlowRun, OutboundMessage


@extend_schema_field({"type": "string", "enum": list(ConversationStatus.values)})
class ConversationStatusField(serializers.CharField):
    """Documented inline: another ``status`` enum component would collide with the payments' one."""


@extend_schema_field({"type": "string", "enum": list(OutboundStatus.values)})
class DeliveryStatusField(serializers.CharField):
    """Documented inline, like ``ConversationStatusField``."""


class ActiveFlowSerializer(serializers.ModelSerializer):
    class Meta:
        model = FlowRun
        fields = ("id", "kind", "state", "initiator_id", "expires_at", "created_at")
        read_only_fields = fields


class ParticipantSerializer(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField(allow_blank=True, required=False)


class ConversationSerializer(serializers.ModelSerializer):
    """A conversation; ``status`` is derived: ``pending`` (a flow waits for an answer), ``active``
    (a message in the last 24 hours) or ``idle``."""

    status = ConversationStatusField(read_only=True)
    participants = ParticipantSerializer(many=True, read_only=True)
    active_flow = serializers.SerializerMethodField(help_text="The flow holding the conversation, if any")

    class Meta:
        model = Conversation
        fields = (
            "id",
            "platform",
            "external_conversation_id",
            "title",
            "participants",
            "language",
            "status",
            "active_flow",
            "created_at",
            "last_message_at",
        )
        read_only_fields = fields

    @extend_schema_field(ActiveFlowSerializer(allow_null=True))
    def get_active_flow(self, conversation: Conversation) -> dict[str, Any] | None:
        runs = getattr(conversation, "active_flow_runs", None)
        if runs is None:  # not from selectors.conversation_list
            runs = list(conversation.flow_runs.filter(is_active=True))
        return dict(ActiveFlowSerializer(runs[0]).data) if runs else None


class DeliverySerializer(serializers.ModelSerializer):
    """How an outbound message travels: ``channel`` is the platform or ``local`` (the outbox)."""

    status = DeliveryStatusField(read_only=True)

    class Meta:
        model = OutboundMessage
        fields = ("id", "channel", "status", "attempts", "error", "sent_at", "delivered_at")
        read_only_fields = fields


class ConversationMessageSerializer(serializers.ModelSerializer):
    """One message, either direction, with what the intent engine understood of inbound ones and
    the delivery of outbound ones (``delivery``; ``context["outbound"]`` maps ids to rows)."""

    text = serializers.CharField(source="message_text", read_only=True)
    intent = serializers.CharField(source="detected_intent", read_only=True)
    confidence = serializers.FloatField(source="confidence_score", read_only=True, allow_null=True)
    entities = serializers.JSONField(source="extracted_entities", read_only=True)
    sent_by = serializers.SerializerMethodField(
        help_text="Who wrote an outbound message sent through the API"
    )
    delivery = serializers.SerializerMethodField()

    class Meta:
        model = ConversationMessage
        fields = (
            "id",
            "conversation",
            "direction",
            "sender_id",
            "sender_name",
            "text",
            "language",
            "intent",
            "confidence",
            "intent_tier",
            "entities",
            "sent_by",
            "delivery",
            "created_at",
        )
        read_only_fields = fields

    def get_sent_by(self, message: ConversationMessage) -> str | None:
        return (message.raw or {}).get("sent_by") or None

    @extend_schema_field(DeliverySerializer(allow_null=True))
    def get_delivery(self, message: ConversationMessage) -> dict[str, Any] | None:
        outbound_id = (message.raw or {}).get("outbound_id")
        if message.direction != "outbound" or not outbound_id:
            return None
        outbound = self.context.get("outbound", {}).get(str(outbound_id))
        return dict(DeliverySerializer(outbound).data) if outbound is not None else None


class MessageSendSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=4000, help_text="Sent as is (plain text) on the platform")
