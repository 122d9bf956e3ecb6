"""WebSocket authentication: session cookie, JWT (``?token=`` or ``Authorization``)
or API key (``?api_key=`` or ``X-Api-Key``). Sets ``scope["user"]`` and
``scope["organization"]``; consumers refuse unauthenticated connections."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from channels.auth import AuthMiddleware
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.sessions import CookieMiddleware, InstanceSessionWrapper, SessionMiddleware

from apps.core.models import Membership, Organization


@database_sync_to_async
def _resolve(
    token: str | None, api_key: str | None, user: Any, org_hint: str | None
) -> tuple[Any, Organization | None]:
    from apps.core.authentication import ApiKeyPrincipal, api_key_resolve

    if api_key:
        key = api_key_resolve(api_key)
        if key is None:
            return None, None
        return ApiKeyPrincipal(
            api_key=key, organization=key.organization, scopes=list(key.scopes)
        ), key.organization
    if token:
        from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

        from apps.core.authcache import CachedJWTAuthentication as JWTAuthentication

        auth = JWTAuthentication()
        try:
            validated = auth.get_validated_token(token.encode())
            user = auth.get_user(validated)
        except (InvalidToken, TokenError, Exception):
            return None, None
    if user is None or not getattr(user, "is_authenticated", False):
        return None, None
    memberships = Membership.objects.select_related("organization").filter(
        user=user, organization__is_active=True
    )
    for m in memberships:
        if org_hint in (None, m.organization.slug, str(m.organization.pk)):
            return user, m.organization
    return user, None


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
        user, org = await _resolve(token, api_key, session_user, org_hint)
        scope["principal"] = user
        scope["organization"] = org
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
