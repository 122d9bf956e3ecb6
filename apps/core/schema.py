"""drf-spectacular extensions for AgentPay's own authentication classes."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OrganizationAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.OrganizationAPIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "header", "name": "X-Api-Key"}
