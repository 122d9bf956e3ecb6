from __future__ import annotations

from typing import Any

from rest_framework.permissions import BasePermission

from apps.core.authentication import ApiKeyPrincipal
from apps.core.tenancy import request_organization


class IsOrganizationMember(BasePermission):
    """Authenticated, and acting for an organisation (membership or API key)."""

    message = "Authentication with an organisation membership or API key is required."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return request_organization(request) is not None


class HasApiKeyScope(BasePermission):
    """For API keys, require the view's ``required_scope``; people pass through.

    Reads are allowed with ``read``, except on views that set ``read_scope_suffices = False``
    (chat message texts need their own scope). A view that declares no scope is closed to keys
    for writes unless they hold ``admin`` (deny by default)."""

    message = "This API key lacks the scope this endpoint requires."

    def has_permission(self, request: Any, view: Any) -> bool:
        user = request.user
        if not isinstance(user, ApiKeyPrincipal):
            return True
        safe = request.method in ("GET", "HEAD", "OPTIONS")
        if safe and user.has_scope("read") and getattr(view, "read_scope_suffices", True):
            return True
        scope = getattr(view, "required_scope", None) or "admin"
        return user.has_scope(scope)


class HasRole(BasePermission):
    """People need one of the view's ``allowed_roles``; API keys use scopes instead."""

    message = "Your role in this organisation does not allow this action."

    def has_permission(self, request: Any, view: Any) -> bool:
        from apps.core.tenancy import request_role

        roles = getattr(view, "allowed_roles", None)
        if not roles or isinstance(request.user, ApiKeyPrincipal):
            return True
        return request_role(request) in roles
