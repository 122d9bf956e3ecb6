"""WebSocket authentication: session cookie, JWT (``?token=`` or ``Authorization``)
or API key (``?api_key=`` or ``X-Api-Key``). Sets ``scope["user"]`` and
``scope["organization"]``; consumers refuse unauthenticated connections."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware

from apps.core.models import Membership, Organization


@dataclass(frozen=True)
class Credential:
    """What a socket authenticated with, so that it can be checked again while the socket stays
    open (``credential_valid``): an API key's id, a JWT's user and expiry, a session's key and user."""

    kind: str  # "api_key", "jwt" or "session"
    ref: str  # the key's id, the user's id or the session key
    user_id: str = ""
    expires_at: float | None = None  # a JWT's ``exp`` (seconds since the epoch)


@database_sync_to_async
def _resolve(
    token: str | None, api_key: str | None, user: Any, org_hint: str | None, session_key: str | None
) -> tuple[Any, Organization | None, Credential | None]:
    from apps.core.authentication import ApiKeyPrincipal, api_key_resolve

    if api_key:
        key = api_key_resolve(api_key)
        if key is None:
            return None, None, None
        principal = ApiKeyPrincipal(api_key=key, organization=key.organization, scopes=list(key.scopes))
        return principal, key.organization, Credential(kind="api_key", ref=str(key.pk))
    credential = None
    if token:
        from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

        from apps.core.authcache import CachedJWTAuthentication as JWTAuthentication

        auth = JWTAuthentication()
        try:
            validated = auth.get_validated_token(token.encode())
            user = auth.get_user(validated)
        except (InvalidToken, TokenError, Exception):
            return None, None, None
        exp = validated.get("exp")
        credential = Credential(
            kind="jwt", ref=str(user.pk), user_id=str(user.pk), expires_at=float(exp) if exp else None
        )
    if user is None or not getattr(user, "is_authenticated", False):
        return None, None, None
    if credential is None:
        credential = Credential(kind="session", ref=session_key or "", user_id=str(user.pk))
    memberships = Membership.objects.select_related("organization").filter(
        user=user, organization__is_active=True
    )
    for m in memberships:
        if org_hint in (None, m.organization.slug, str(m.organization.pk)):
            return user, m.organization, credential
    return user, None, credential


def credential_valid(credential: Credential, organization_id: Any) -> bool:
    """Whether ``credential`` still admits its holder to ``organization_id``'s streams: the API key
    is not revoked or expired, the JWT has not expired, the session was not logged out (nor its
    user's password changed), the person is still active and a member, the organisation active."""
    from apps.core.models import OrganizationAPIKey

    if credential.kind == "api_key":
        key = OrganizationAPIKey.objects.select_related("organization").filter(pk=credential.ref).first()
        return bool(
            key is not None
            and not key.revoked
            and not key.has_expired
            and key.organization.is_active
            and str(key.organization_id) == str(organization_id)
        )
    if credential.expires_at is not None and time.time() >= credential.expires_at:
        return False
    if credential.kind == "session" and not _session_current(credential):
        return False
    return Membership.objects.filter(
        user_id=credential.user_id,
        user__is_active=True,
        organization_id=organization_id,
        organization__is_active=True,
    ).exists()


def _session_current(credential: Credential) -> bool:
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY

    from apps.core.models import User

    if not credential.ref:
        return False
    session = import_module(settings.SESSION_ENGINE).SessionStore(credential.ref)
    if str(session.get(SESSION_KEY, "")) != credential.user_id:
        return False  # logged out, expired or flushed
    user = User.objects.filter(pk=credential.user_id).first()
    return user is not None and session.get(HASH_SESSION_KEY) == user.get_session_auth_hash()


class TokenAuthMiddleware(BaseMiddleware):
    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        query = parse_qs(scope.get("query_string", b"").decode())
        headers = {k.decode().lower(): v.decode() for k, v in scope.get("headers", [])}
        token = (query.get("token") or [None])[0]
        auth_header = headers.get("authorization", "")
        if not token and auth_header.startswith("Bearer "):
            token = auth_header[7:]
        api_key = (query.get("api_key") or [None])[0] or headers.get("x-api-key")
        if not api_key and auth_header.startswith("Api-Key "):
            api_key = auth_header[8:]
        org_hint = (query.get("organization") or [None])[0] or headers.get("x-organization")
        session_user = scope.get("user")
        session = scope.get("session")
        session_key = getattr(session, "session_key", None) if session is not None else None
        user, org, credential = await _resolve(token, api_key, session_user, org_hint, session_key)
        scope["principal"] = user
        scope["organization"] = org
        scope["credential"] = credential
        return await super().__call__(scope, receive, send)


class WebSocketSessionMiddleware(SessionMiddleware):
    """Channels' session middleware without its wrapper around ``send``.

    Channels saves a modified session only on ``http.response.start``, which a WebSocket never
    sends, yet its wrapper reads the session's state through the lazy object on every frame:
    about half of the live feed's Python time per delivered frame. The session is still resolved
    into ``scope["session"]`` for ``AuthMiddleware`` (the live feed page's cookie)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        wrapper = InstanceSessionWrapper(scope, send)
        await wrapper.resolve_session()
        return await self.inner(wrapper.scope, receive, send)


def WebSocketAuthMiddlewareStack(inner: Any) -> Any:
    """Channels' ``AuthMiddlewareStack`` (cookies, session, user) with the token and API key on top."""
    return CookieMiddleware(WebSocketSessionMiddleware(AuthMiddleware(TokenAuthMiddleware(inner))))
