from django.db import models


class PaymentStatus(models.TextChoices):
    CREATED = "created", "Created"
    SCREENING = "screening", "Compliance screening"
    ON_HOLD = "on_hold", "On hold for review"
    APPROVED = "approved", "Approved"
    INITIATED = "initiated", "Initiated"
    PROCESSING = "processing", "Processing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    BLOCKED = "blocked", "Blocked by compliance"
    CANCELLED = "cancelled", "Cancelled"
    REFUNDED = "refunded", "Refunded"


class Rail(models.TextChoices):
    PIX = "pix", "PIX"
    PAYTO = "payto", "PayTo"
    STRIPE = "stripe", "Stripe"
    WISE = "wise", "Wise"
    SEPA = "sepa", "SEPA Credit Transfer"
    SEPA_INSTANT = "sepa_instant", "SEPA Instant"
    USDC = "usdc", "USDC"


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DONE = "done", "Done"
    DEAD = "dead", "Dead (gave up; retry from the admin)"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "Requested (queued for the rail)"
    PENDING = "pending", "Pending at the rail"
    SUCCEEDED = "succeeded", "Refunded"
    FAILED = "failed", "Failed"


# A payment has at most one refund in flight (asked of the rail, no final answer yet).
REFUND_IN_FLIGHT = (RefundStatus.REQUESTED, RefundStatus.PENDING)
