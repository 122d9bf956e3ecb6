"""Conversations and their messages (the design's ``conversations`` and ``conversation_messages``)."""

from __future__ import annotations

import uuid

from django.db import models

from apps.conversations.choices import (
    Channel,
    Direction,
    FlowKind,
    OutboundStatus,
    Platform,
    WebhookStatus,
)
from apps.core.models import Organization


class Conversation(models.Model):
    """A chat thread on one platform (a WhatsApp number, a Slack channel, a Telegram chat...)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="conversations", db_index=False
    )
    platform = models.CharField(max_length=50, choices=Platform.choices)
    external_conversation_id = models.CharField(max_length=255)
    title = models.CharField(max_length=255, blank=True, default="")
    participants = models.JSONField(default=list)
    context = models.JSONField(default=dict, blank=True)
    language = models.CharField(max_length=5, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_message_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "platform", "external_conversation_id"],
                name="uniq_conversation_external",
            )
        ]
        indexes = [
            models.Index(fields=["platform", "external_conversation_id"], name="idx_external_conv"),
            models.Index(fields=["organization", "-created_at"], name="idx_conv_org_created"),
            models.Index(fields=["organization", "-last_message_at"], name="idx_conv_org_last_msg"),
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.external_conversation_id}"


class ConversationMessage(models.Model):
    """One message in a conversation, with what the intent engine understood of it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.INBOUND)
    platform_message_id = models.CharField(max_length=255, blank=True, default="")
    sender_id = models.CharField(max_length=255, blank=True, default="")
    sender_name = models.CharField(max_length=255, blank=True, default="")
    message_text = models.TextField(blank=True, default="")
    language = models.CharField(max_length=5, blank=True, default="")
    detected_intent = models.CharField(max_length=50, blank=True, default="")
    extracted_entities = models.JSONField(default=dict, blank=True)
    confidence_score = models.FloatField(null=True, blank=True)
    intent_tier = models.CharField(max_length=20, blank=True, default="")
    processing_time_ms = models.IntegerField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="idx_conversation"),
            models.Index(fields=["detected_intent", "created_at"], name="idx_msg_intent"),
        ]

    def __str__(self) -> str:
        return f"{self.sender_id}: {self.message_text[:40]}"


class PlatformAccount(models.Model):
    """Which organisation a platform's webhooks belong to, and how to reply there.

    ``external_id`` is the WhatsApp ``phone_number_id``, the Slack ``team_id``
    or the Telegram bot id. Secrets (app secret, verify token, access/bot
    token, signing secret, webhook secret) are stored encrypted with
    ``FIELD_ENCRYPTION_KEYS`` (see ``secrets_get``/``platform_account_secrets_set``);
    ``webhook_secret_hash`` is a keyed hash of Telegram's webhook secret so the
    account can be found from the header without decrypting every row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="platform_accounts")
    platform = models.CharField(max_length=20, choices=Platform.choices)
    external_id = models.CharField(max_length=255)
    name = models.CharField(max_length=200, blank=True, default="")
    language = models.CharField(max_length=5, blank=True, default="")
    secrets_encrypted = models.TextField(blank=True, default="")
    webhook_secret_hash = models.CharField(max_length=64, blank=True, default="", db_index=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"], name="uniq_platform_account_external")
        ]

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.external_id} ({self.organization_id})"

    def secrets_get(self) -> dict[str, str]:
        from apps.conversations.platforms.crypto import secrets_decrypt

        return secrets_decrypt(self.secrets_encrypted)


class WebhookEvent(models.Model):
    """A raw inbound webhook, stored before it is acknowledged, keyed by the platform's event id.

    The unique ``(platform, event_id)`` makes a retried delivery a no-op.
    """

    id = models.BigAutoField(primary_key=True)
    platform = models.CharField(max_length=20, choices=Platform.choices)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=64, blank=True, default="")
    account = models.ForeignKey(
        PlatformAccount, null=True, blank=True, on_delete=models.SET_NULL, related_name="webhook_events"
    )
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_events"
    )
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=WebhookStatus.choices, default=WebhookStatus.RECEIVED)
    error = models.TextField(blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "event_id"], name="uniq_webhook_event_platform_id")
        ]
        indexes = [models.Index(fields=["status", "received_at"], name="idx_webhook_status")]

    def __str__(self) -> str:
        return f"{self.platform}:{self.event_id} ({self.status})"


class FlowRun(models.Model):
    """One run of a conversational flow (a declared state machine, ``apps.conversations.flows``).

    At most one active run per conversation (partial unique constraint);
    ``data`` holds the flow's working state (amount, payee, shares, offers...).
    ``version`` is bumped on every transition so a timeout scheduled for an
    older state does nothing.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="flow_runs", db_index=False
    )
    kind = models.CharField(max_length=30, choices=FlowKind.choices)
    state = models.CharField(max_length=40)
    is_active = models.BooleanField(default=True)
    initiator_id = models.CharField(max_length=255, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(null=True, blank=True)
    started_by_message = models.ForeignKey(
        ConversationMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payments = models.ManyToManyField("payments.OrchestrationPayment", blank=True, related_name="flow_runs")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation"], condition=models.Q(is_active=True), name="uniq_active_flow_per_conv"
            )
        ]
        indexes = [models.Index(fields=["conversation", "-created_at"], name="idx_flow_conv_created")]

    def __str__(self) -> str:
        return f"{self.kind} [{self.state}]"


class FlowTransition(models.Model):
    """One state change of a flow run: from, to, on which event, by whom. Append-only."""

    id = models.BigAutoField(primary_key=True)
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="transitions")
    from_state = models.CharField(max_length=40, blank=True, default="")
    to_state = models.CharField(max_length=40)
    event = models.CharField(max_length=40)
    actor = models.CharField(max_length=255, blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state} ({self.event})"


class OutboundMessage(models.Model):
    """A reply AgentPay sends (or put in the local outbox), with attempts and delivery status."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="outbound_messages", db_index=False
    )
    flow_run = models.ForeignKey(
        FlowRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="outbound_messages"
    )
    replaces = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replaced_by"
    )
    channel = models.CharField(max_length=20, choices=Channel.choices)
    recipient = models.CharField(max_length=255, blank=True, default="")
    reply = models.JSONField(default=dict)
    text = models.TextField(blank=True, default="")
    status = models.CharField(max_length=20, choices=OutboundStatus.choices, default=OutboundStatus.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    provider_message_id = models.CharField(max_length=255, blank=True, default="", db_index=True)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["conversation", "created_at"], name="idx_outbound_conv"),
            models.Index(fields=["channel", "status"], name="idx_outbound_channel_status"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} → {self.recipient}: {self.text[:40]} ({self.status})"
