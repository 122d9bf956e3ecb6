from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core import selectors, services
from apps.core.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    MeSerializer,
)
from apps.core.authentication import ApiKeyPrincipal
from apps.core.choices import Role
from apps.core.permissions import HasRole
from apps.core.tenancy import organization_required, request_person, request_role


class MeView(APIView):
    @extend_schema(responses=MeSerializer, summary="Who am I: caller, organisation, role or scopes")
    def get(self, request: Request) -> Response:
        user = request.user
        is_key = isinstance(user, ApiKeyPrincipal)
        data = {
            "id": str(user.pk),
            "username": None if is_key else user.get_username(),
            "organization": organization_required(request),
            "role": request_role(request),
            "scopes": user.scopes if isinstance(user, ApiKeyPrincipal) else None,
        }
        return Response(MeSerializer(data).data)


class ApiKeyListCreateView(APIView):
    permission_classes = [*APIView.permission_classes, HasRole]
    allowed_roles = (Role.OWNER, Role.DEVELOPER)
    required_scope = "admin"
    pagination_class = None

    @extend_schema(responses=ApiKeySerializer(many=True), summary="List the organisation's API keys")
    def get(self, request: Request) -> Response:
        keys = selectors.api_key_list(organization=organization_required(request))
        return Response(ApiKeySerializer(keys, many=True).data)

    @extend_schema(
        request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer}, summary="Create an API key"
    )
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        actor = request_person(request)
        key, raw = services.api_key_create(
            organization=organization_required(request), actor=actor, **serializer.validated_data
        )
        body: dict[str, Any] = dict(ApiKeySerializer(key).data)
        body["key"] = raw
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeView(APIView):
    permission_classes = [*APIView.permission_classes, HasRole]
    allowed_roles = (Role.OWNER, Role.DEVELOPER)
    required_scope = "admin"

    @extend_schema(request=None, responses=ApiKeySerializer, summary="Revoke an API key")
    def post(self, request: Request, key_id: str) -> Response:
        key = get_object_or_404(
            selectors.api_key_list(organization=organization_required(request)), pk=key_id
        )
        actor = request_person(request)
        return Response(ApiKeySerializer(services.api_key_revoke(api_key=key, actor=actor)).data)


class ApiKeyRotateView(APIView):
    permission_classes = [*APIView.permission_classes, HasRole]
    allowed_roles = (Role.OWNER, Role.DEVELOPER)
    required_scope = "admin"

    @extend_schema(
        request=None, responses={201: ApiKeyCreatedSerializer}, summary="Rotate: new key, old one revoked"
    )
    def post(self, request: Request, key_id: str) -> Response:
        key = get_object_or_404(
            selectors.api_key_list(organization=organization_required(request)), pk=key_id
        )
        actor = request_person(request)
        new, raw = services.api_key_rotate(api_key=key, actor=actor)
        body: dict[str, Any] = dict(ApiKeySerializer(new).data)
        body["key"] = raw
        return Response(body, status=status.HTTP_201_CREATED)
