from __future__ import annotations

from rest_framework import serializers

from apps.core.choices import ApiKeyScope
from apps.core.models import Organization, OrganizationAPIKey


class ErrorSerializer(serializers.Serializer):
    """The error body of every 4xx/5xx response."""

    code = serializers.CharField()
    message = serializers.CharField()
    errors = serializers.DictField(child=serializers.JSONField())  # type: ignore[assignment]


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = ("id", "name", "slug", "country", "default_currency", "default_language", "timezone")


class MeSerializer(serializers.Serializer):
    id = serializers.CharField()
    username = serializers.CharField(allow_null=True)
    organization = OrganizationSerializer()
    role = serializers.CharField(allow_null=True)
    scopes = serializers.ListField(child=serializers.CharField(), allow_null=True)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = OrganizationAPIKey
        fields = (
            "id",
            "prefix",
            "name",
            "scopes",
            "created",
            "expiry_date",
            "revoked",
            "last_used_at",
            "spending_limit_per_payment",
            "spending_limit_daily",
            "spending_limit_currency",
        )
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKeyScope.choices), allow_empty=False
    )
    expiry_date = serializers.DateTimeField(required=False, allow_null=True)
    spending_limit_per_payment = serializers.DecimalField(
        max_digits=19, decimal_places=4, required=False, allow_null=True
    )
    spending_limit_daily = serializers.DecimalField(
        max_digits=19, decimal_places=4, required=False, allow_null=True
    )
    spending_limit_currency = serializers.CharField(
        max_length=4, required=False, allow_blank=True, default=""
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The plaintext key. Shown once.")

    class Meta(ApiKeySerializer.Meta):
        fields: tuple[str, ...] = (*ApiKeySerializer.Meta.fields, "key")  # type: ignore[assignment]
        read_only_fields = fields  # type: ignore[assignment]
