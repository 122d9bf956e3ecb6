"""drf-spectacular extensions for AgentPay's own authentication classes."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OrganizationAPIKeyScheme(OpenApiAuthenticationExtension):
    target_class = "apps.core.authentication.OrganizationAPIKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {"type": "apiKey", "in": "header", "name": "X-Api-Key"}


class CachedJWTScheme(SimpleJWTScheme):
    """The same bearer JWT scheme as simplejwt's, for the cached authentication class."""

    target_class = "apps.core.authcache.CachedJWTAuthentication"
