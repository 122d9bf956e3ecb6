"""The relationship graph (the design's ``payment_relationships``)."""

from __future__ import annotations

import uuid

from django.db import models
from djmoney.models.fields import MoneyField

from apps.core.models import Organization


class PaymentRelationship(models.Model):
    """Who pays whom in an organisation: counts, totals, typical amount and rails."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="relationships", db_index=False
    )  # uniq_relationship
    user_id = models.CharField(max_length=255, help_text="The payer (platform user or AgentPay user id).")
    counterparty_id = models.CharField(max_length=255)
    total_payments_count = models.IntegerField(default=0)
    total_amount = MoneyField(
        max_digits=19, decimal_places=4, default_currency=None, currency_max_length=4, null=True
    )
    avg_payment_amount = MoneyField(
        max_digits=19, decimal_places=4, default_currency=None, currency_max_length=4, null=True
    )
    typical_rails = models.JSONField(default=dict, blank=True)
    last_payment_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "user_id", "counterparty_id"], name="uniq_relationship"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} → {self.counterparty_id}"
