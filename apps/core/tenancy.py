"""Resolve the organisation a request acts for; every API query is scoped to it."""

from __future__ import annotations

from typing import Any

import structlog

from apps.core.authentication import ApiKeyPrincipal
from apps.core.models import Membership, Organization


def request_organization(request: Any) -> Organization | None:
    """The caller's organisation, cached on the request.

    API keys carry their organisation. People use their membership; with several,
    the ``X-Organization`` header (slug or id) picks one.
    """
    cached = getattr(request, "_agentpay_org", None)
    if cached is not None:
        return cached
    user = getattr(request, "user", None)
    org: Organization | None = None
    membership: Membership | None = None
    if isinstance(user, ApiKeyPrincipal):
        org = user.organization
    elif user is not None and user.is_authenticated:
        from apps.core.authcache import memberships_get

        memberships = memberships_get(user)
        wanted = request.META.get("HTTP_X_ORGANIZATION")
        if wanted:
            membership = next(
                (m for m in memberships if wanted in (m.organization.slug, str(m.organization.pk))), None
            )
        else:
            membership = memberships[0] if memberships else None
        org = membership.organization if membership else None
    request._agentpay_membership = membership
    request._agentpay_org = org
    if org is not None:
        structlog.contextvars.bind_contextvars(organization_id=str(org.pk))
    return org


def request_role(request: Any) -> str | None:
    user = getattr(request, "user", None)
    org = request_organization(request)
    if org is None or user is None or isinstance(user, ApiKeyPrincipal):
        return None
    membership = getattr(request, "_agentpay_membership", None)
    if membership is not None and membership.organization_id == org.pk:
        return str(membership.role)
    return Membership.objects.filter(organization=org, user=user).values_list("role", flat=True).first()


def organization_required(request: Any) -> Organization:
    """The caller's organisation; views behind ``IsOrganizationMember`` always have one."""
    org = request_organization(request)
    if org is None:
        from rest_framework.exceptions import PermissionDenied

        raise PermissionDenied("No organisation for this caller.")
    return org


def request_actor(request: Any) -> Any:
    """The acting person (a ``User``) or ``ApiKeyPrincipal``; None when anonymous."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    return user


def request_person(request: Any) -> Any:
    """The acting ``User``, or None for API keys and anonymous callers."""
    user = request_actor(request)
    return None if isinstance(user, ApiKeyPrincipal) else user
