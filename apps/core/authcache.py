"""Who a JWT caller is and where they are a member, cached for a minute.

Every API request by a person needs the ``User`` row and their memberships; two queries that
cost more than the rest of a small request. They are kept in Django's cache (Redis in
production, so every process sees the same entries) and dropped by signal whenever a user,
membership or organisation changes, so a revoked membership or deactivated user is refused
on the next request. Entries also expire after ``AUTH_CACHE_SECONDS`` (60; 0 turns caching
off), which bounds staleness from writes that bypass signals (``QuerySet.update``).

On Redis the entry is read by the same command (one Lua script) that counts the request against
the view's rate limits (``apps.core.throttling.prefetch_keys``): one round trip per request.

An access token's signature is checked once per process: ``_verified`` keeps the validated
token by its raw bytes (bounded), and a hit only checks ``exp`` again. Access tokens are not
revocable (simplejwt blacklists refresh tokens only), so a hit says what a new check would.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.db.models.signals import post_delete, post_save
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings as jwt_settings

from apps.core import throttling
from apps.core.models import Membership, Organization, User

_VERIFIED_MAX = 10_000
_verified: dict[bytes, tuple[Any, float]] = {}


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
    return _user_and_counts(user_id, count=None)[0]


def _user_and_counts(
    user_id: Any, *, count: dict[str, int] | None
) -> tuple[User | None, dict[str, int] | None]:
    """``user_get``, counting the rate-limit keys of ``count`` (``{key: window seconds}``) in the
    same round trip on Redis; the counts come back beside the user."""
    ttl = _ttl()
    if ttl <= 0:
        return User.objects.filter(pk=user_id).first(), None
    key = _context_key(user_id)
    counts: dict[str, int] | None = None
    if count:
        entry, counts = throttling.hits_with_cache_get(count, key)
    else:
        entry = cache.get(key)
    if entry is None:
        user = User.objects.filter(pk=user_id).first()
        if user is None:
            return None, counts
        entry = (user, _memberships_load(user.pk))
        cache.set(key, entry, ttl)
    user, memberships = entry
    user._agentpay_memberships = memberships
    return user, counts


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
    """simplejwt's authentication with the user read through the auth cache, the request's
    rate limits counted in the same round trip, and each token's signature checked once."""

    def authenticate(self, request: Any) -> Any:
        header = self.get_header(request)
        if header is None:
            return None
        raw_token = self.get_raw_token(header)
        if raw_token is None:
            return None
        validated_token = self.get_validated_token(raw_token)
        return self.get_user(validated_token, request=request), validated_token

    def get_validated_token(self, raw_token: bytes) -> Any:
        hit = _verified.get(raw_token)
        if hit is not None:
            token, expires = hit
            if time.time() < expires:
                return token
            _verified.pop(raw_token, None)
        token = super().get_validated_token(raw_token)
        exp = token.payload.get("exp")
        if isinstance(exp, int | float):
            if len(_verified) >= _VERIFIED_MAX:
                _verified.clear()
            leeway = token.get_token_backend().get_leeway().total_seconds()
            _verified[raw_token] = (token, float(exp) + leeway)
        return token

    def get_user(self, validated_token: Any, request: Any = None) -> Any:
        try:
            user_id = validated_token[jwt_settings.USER_ID_CLAIM]
        except KeyError as exc:
            raise InvalidToken("Token contained no recognizable user identification") from exc
        count = throttling.prefetch_keys(request, principal=str(user_id)) if request is not None else None
        user, counts = _user_and_counts(user_id, count=count)
        if user is None:
            raise AuthenticationFailed("User not found", code="user_not_found")
        if jwt_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed("User is inactive", code="user_inactive")
        if counts is not None:
            throttling.counts_attach(request, counts)
        return user


def _on_user_change(sender: Any, instance: User, **kwargs: Any) -> None:
    user_forget(instance.pk)


def _on_membership_change(sender: Any, instance: Membership, **kwargs: Any) -> None:
    user_forget(instance.user_id)


def _on_organization_change(sender: Any, instance: Organization, **kwargs: Any) -> None:
    for user_id in Membership.objects.filter(organization_id=instance.pk).values_list("user_id", flat=True):
        user_forget(user_id)


def _on_setting_changed(setting: str, **kwargs: Any) -> None:
    if setting in ("SIMPLE_JWT", "SECRET_KEY"):
        _verified.clear()


def signals_connect() -> None:
    setting_changed.connect(_on_setting_changed, dispatch_uid="authctx-verified-tokens")
    for signal in (post_save, post_delete):
        signal.connect(_on_user_change, sender=User, dispatch_uid=f"authctx-user-{signal}")
        signal.connect(_on_membership_change, sender=Membership, dispatch_uid=f"authctx-membership-{signal}")
        signal.connect(_on_organization_change, sender=Organization, dispatch_uid=f"authctx-org-{signal}")
