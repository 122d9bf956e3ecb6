"""API-key authentication for integrations and AI agents.

Keys are created and hashed by djangorestframework-api-key. A request sends
``X-Api-Key: <prefix>.<secret>`` (or ``Authorization: Api-Key <key>``); a
revoked or expired key is refused with 401.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from django.utils import timezone
from rest_framework import authentication, exceptions

from apps.core.models import Organization, OrganizationAPIKey


@dataclass
class ApiKeyPrincipal:
    """The caller of a request authenticated by an API key (not a person)."""

    api_key: OrganizationAPIKey
    organization: Organization
    scopes: list[str] = field(default_factory=list)
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_staff: bool = False
    is_superuser: bool = False

    @property
    def pk(self) -> str:
        return f"apikey:{self.api_key.prefix}"

    @property
    def id(self) -> str:
        return self.pk

    def __str__(self) -> str:
        return f"API key {self.api_key.prefix} ({self.api_key.name})"

    def has_scope(self, scope: str) -> bool:
        return self.api_key.has_scope(scope)


def _key_from_request(request: Any) -> str | None:
    key = request.META.get("HTTP_X_API_KEY")
    if key:
        return str(key)
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header.startswith("Api-Key "):
        return str(header.split(" ", 1)[1].strip())
    return None


def api_key_resolve(raw_key: str) -> OrganizationAPIKey | None:
    """Return the valid (unrevoked, unexpired) key for ``raw_key``, or None."""
    try:
        key = cast(OrganizationAPIKey, OrganizationAPIKey.objects.get_from_key(raw_key))
    except OrganizationAPIKey.DoesNotExist:
        return None
    if key.has_expired or key.revoked or not key.organization.is_active:
        return None
    return key


class OrganizationAPIKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request: Any) -> tuple[ApiKeyPrincipal, OrganizationAPIKey] | None:
        raw = _key_from_request(request)
        if raw is None:
            return None
        key = api_key_resolve(raw)
        if key is None:
            raise exceptions.AuthenticationFailed("Invalid, revoked or expired API key.")
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            OrganizationAPIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ApiKeyPrincipal(api_key=key, organization=key.organization, scopes=list(key.scopes)), key

    def authenticate_header(self, request: Any) -> str:
        return self.keyword
