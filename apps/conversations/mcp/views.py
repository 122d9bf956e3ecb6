"""``/mcp``: the MCP server's streamable HTTP, served by Django like every other endpoint.

So Django's ``ALLOWED_HOSTS`` check, the request log, metrics and Sentry apply, and DRF
authenticates the API key (``X-Api-Key: <key>``, ``Authorization: Api-Key <key>`` or
``Authorization: Bearer <key>``) and counts the per-key and per-IP rate limits (the same
Redis counters as the REST API: a key's MCP and REST calls share one budget). Refusals use
the AgentPay error body: 400 ``bad_request`` (a host not in ``ALLOWED_HOSTS``), 401
``authentication_failed``, 429 ``throttled`` with ``Retry-After``. The request itself is
handed to the SDK's transport (``asgi.mcp_request``), whose JSON answer is returned as is.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from apps.conversations.mcp.asgi import mcp_request
from apps.core.authentication import ApiKeyPrincipal, OrganizationAPIKeyAuthentication
from apps.core.models import OrganizationAPIKey
from apps.core.permissions import IsOrganizationMember
from apps.core.throttling import PerIPThrottle, PerUserThrottle


def raw_api_key(request: Any) -> str | None:
    """The API key of an MCP request: ``X-Api-Key``, or ``Authorization: Api-Key|Bearer <key>``
    (MCP clients usually only offer a bearer token)."""
    key = request.META.get("HTTP_X_API_KEY", "").strip()
    if key:
        return str(key)
    header = request.META.get("HTTP_AUTHORIZATION", "")
    for prefix in ("Api-Key ", "Bearer "):
        if header.startswith(prefix):
            return str(header[len(prefix) :].strip()) or None
    return None


class MCPApiKeyAuthentication(OrganizationAPIKeyAuthentication):
    """``/mcp`` is for API keys only (without a valid one the answer is 401); a bearer token is
    taken as the key, then the project's API-key authentication does the rest."""

    def authenticate(self, request: Any) -> tuple[ApiKeyPrincipal, OrganizationAPIKey]:
        raw = raw_api_key(request)
        if raw is None:
            raise exceptions.AuthenticationFailed("A valid API key is required for /mcp.")
        request.META["HTTP_X_API_KEY"] = raw  # the header OrganizationAPIKeyAuthentication reads
        authenticated = super().authenticate(request)
        if authenticated is None:  # not reached: the header was just set
            raise exceptions.AuthenticationFailed("A valid API key is required for /mcp.")
        return authenticated


def _port(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):  # e.g. "None" under an ASGI test transport
        return 0


# Hop-by-hop or recomputed by Django; everything else of the SDK's answer is passed on.
_DROPPED_HEADERS = {"content-length", "connection", "transfer-encoding"}
# The SDK is told which key was verified (``KEY_ID_HEADER``); the secret itself stays here.
_SECRET_HEADERS = {"x-api-key", "authorization", "cookie"}


class MCPView(APIView):
    """Every method goes to the MCP transport (POST carries JSON-RPC; the SDK answers GET and
    DELETE itself, with 405 in stateless mode). Each tool checks the key's scopes."""

    authentication_classes = [MCPApiKeyAuthentication]
    permission_classes = [IsOrganizationMember]
    throttle_classes = [PerIPThrottle, PerUserThrottle]

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        # MCP clients accept "application/json, text/event-stream"; errors are always JSON
        return super().perform_content_negotiation(request, force=True)

    def _forward(self, request: Request) -> HttpResponse:
        django_request = request._request
        body = django_request.body
        headers = [
            (name.lower().encode("latin1"), str(value).encode("latin1"))
            for name, value in django_request.headers.items()
            if name.lower() not in _SECRET_HEADERS
        ]
        meta = django_request.META
        status, answer_headers, content = async_to_sync(mcp_request)(
            method=django_request.method or "POST",
            headers=headers,
            body=body,
            key_id=str(request.auth.pk),
            query_string=meta.get("QUERY_STRING", "").encode("latin1"),
            scheme=django_request.scheme or "http",
            client=(meta.get("REMOTE_ADDR") or "", 0),
            server=(str(meta.get("SERVER_NAME") or ""), _port(meta.get("SERVER_PORT"))),
        )
        response = HttpResponse(content, status=status)
        for name, value in answer_headers:
            if name.decode("latin1").lower() not in _DROPPED_HEADERS:
                response[name.decode("latin1")] = value.decode("latin1")
        return response

    @extend_schema(exclude=True)
    def post(self, request: Request) -> HttpResponse:
        return self._forward(request)

    @extend_schema(exclude=True)
    def get(self, request: Request) -> HttpResponse:
        return self._forward(request)

    @extend_schema(exclude=True)
    def delete(self, request: Request) -> HttpResponse:
        return self._forward(request)
