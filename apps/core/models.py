"""Tenancy and identity: organisations, people, roles and API keys."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey

from apps.core.choices import ApiKeyScope, Role


class TimeStampedModel(models.Model):
    """Abstract base with created and updated timestamps (timezone-aware)."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class User(AbstractUser):
    """A person: staff in the console or an API user of one or more organisations."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    preferred_language = models.CharField(max_length=5, default="en")

    class Meta(AbstractUser.Meta):  # type: ignore[name-defined]
        swappable = "AUTH_USER_MODEL"


class Organization(TimeStampedModel):
    """A business using AgentPay. Owns conversations, payments, cases and statements."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    country = models.CharField(max_length=2, default="BR")
    default_currency = models.CharField(max_length=4, default="BRL")
    default_language = models.CharField(max_length=5, default="pt")
    timezone = models.CharField(max_length=64, default="America/Sao_Paulo")
    is_active = models.BooleanField(default=True)
    members: models.ManyToManyField = models.ManyToManyField(
        User, through="Membership", related_name="organizations"
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(TimeStampedModel):
    """A user's role inside one organisation."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.DEVELOPER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organization", "user"], name="uniq_membership")]

    def __str__(self) -> str:
        return f"{self.user} @ {self.organization} ({self.role})"


class OrganizationAPIKey(AbstractAPIKey):
    """A hashed API key for integrations and AI agents, scoped to one organisation.

    Revocation uses ``revoked``; rotation issues a new key and revokes the old
    one (``rotated_from`` keeps the lineage). ``scopes`` limits what it may do
    and ``spending_limit_*`` caps what an agent may pay.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="api_keys")
    scopes = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rotated_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    spending_limit_per_payment = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    spending_limit_daily = models.DecimalField(max_digits=19, decimal_places=4, null=True, blank=True)
    spending_limit_currency = models.CharField(max_length=4, blank=True, default="")

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "API key"
        verbose_name_plural = "API keys"

    def has_scope(self, scope: str) -> bool:
        return ApiKeyScope.ADMIN in self.scopes or scope in self.scopes


class RelayedEvent(models.Model):
    """A stream event written by a process that cannot reach the channel layer.

    Only used in the embedded setup, where the channel layer lives in the web
    process's memory: Celery workers write events here and the web process
    relays them to its WebSocket groups (``apps.core.relay``). With Redis the
    channel layer is shared and this table stays empty.
    """

    id = models.BigAutoField(primary_key=True)
    groups = models.JSONField()
    message = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.message.get('event', '?')} → {', '.join(self.groups)}"
