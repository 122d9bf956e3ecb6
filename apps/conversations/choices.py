from django.db import models


class Platform(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    SLACK = "slack", "Slack"
    TELEGRAM = "telegram", "Telegram"
    WEBCHAT = "webchat", "Web chat"
    AGENT = "agent", "AI agent"


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"


class WebhookStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    PROCESSED = "processed", "Processed"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class FlowKind(models.TextChoices):
    DIRECT_PAYMENT = "direct_payment", "Direct payment"
    INVOICE = "invoice", "Invoice and payment link"
    SPLIT_BILL = "split_bill", "Split bill"
    RECURRING = "recurring", "Recurring setup"
    INQUIRY = "inquiry", "Payment inquiry"
    NEGOTIATION = "negotiation", "Price negotiation"


class Channel(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    SLACK = "slack", "Slack"
    TELEGRAM = "telegram", "Telegram"
    WEBCHAT = "webchat", "Web chat"
    LOCAL = "local", "Local outbox"


class OutboundStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    DELIVERED = "delivered", "Delivered"
    READ = "read", "Read"
    FAILED = "failed", "Failed"


class ConversationStatus(models.TextChoices):
    """Derived, not stored: a flow waits for someone's answer, a message came in the last 24 hours,
    or neither."""

    PENDING = "pending", "Waiting for an answer"
    ACTIVE = "active", "Active (a message in the last 24 hours)"
    IDLE = "idle", "Idle"
