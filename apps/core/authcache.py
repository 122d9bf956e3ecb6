"""Who a JWT caller is and where they are a member, cached for a minute.

Every API request by a person needs the ``User`` row and their memberships; two queries that
cost more than the rest of a small request. They are kept in Django's cache (Redis in
production, so every process sees the same entries) and dropped by signal whenever a user,
membership or organisation changes, so a revoked membership or deactivated user is refused
on the next request. Entries also expire after ``AUTH_CACHE_SECONDS`` (60; 0 turns caching
off), which bounds staleness from writes that bypass signals (``QuerySet.update``).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models.signals import post_delete, post_save
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from apps.core.models import Membership, Organization, User


def _ttl() -> int:
    return int(getattr(settings, "AUTH_CACHE_SECONDS", 60))


def _context_key(user_id: Any) -> str:
    return f"authctx:{user_id}"


def _memberships_load(user_id: Any) -> list[Membership]:
    return list(
        Membership.objects.select_related("organization")
        .filter(user_id=user_id, organization__is_active=True)
        .order_by("created_at")
    )


def user_get(user_id: Any) -> User | None:
    """The user, with their memberships attached (``memberships_get`` reads them from the user).

    Both come from one cache entry, so an authenticated request costs one cache round trip."""
    ttl = _ttl()
    if ttl <= 0:
        return User.objects.filter(pk=user_id).first()
    key = _context_key(user_id)
    entry = cache.get(key)
    if entry is None:
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            return None
        entry = (user, _memberships_load(user.pk))
        cache.set(key, entry, ttl)
    user, memberships = entry
    user._agentpay_memberships = memberships
    return user


def memberships_get(user: Any) -> list[Membership]:
    """The user's memberships in active organisations, oldest first, organisations attached."""
    attached = getattr(user, "_agentpay_memberships", None)
    if attached is not None:
        return list(attached)
    ttl = _ttl()
    if ttl <= 0:
        return _memberships_load(user.pk)
    cached = user_get(user.pk)
    return list(getattr(cached, "_agentpay_memberships", None) or [])


def user_forget(user_id: Any) -> None:
    cache.delete(_context_key(user_id))


class CachedJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication with the user read through the auth cache."""

    def get_user(self, validated_token: Any) -> Any:
        try:
            user_id = validated_token[jwt_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        user = user_get(user_id)
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        return user


def _on_user_change(sender: Any, instance: User, **kwargs: Any) -> None:
    user_forget(instance.pk)


def _on_membership_change(sender: Any, instance: Membership, **kwargs: Any) -> None:
    user_forget(instance.user_id)


def _on_organization_change(sender: Any, instance: Organization, **kwargs: Any) -> None:
    for user_id in Membership.objects.filter(organization_id=instance.pk).values_list("user_id", flat=True):
        user_forget(user_id)


def signals_connect() -> None:
    for signal in (post_save, post_delete):
        signal.connect(_on_user_change, sender=User, dispatch_uid=f"authctx-user-{signal}")
        signal.connect(_on_membership_change, sender=Membership, dispatch_uid=f"authctx-membership-{signal}")
        signal.connect(_on_organization_change, sender=Organization, dispatch_uid=f"authctx-org-{signal}")
