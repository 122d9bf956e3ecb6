from __future__ import annotations

from django.db.models import QuerySet

from apps.core.models import Organization, OrganizationAPIKey


def api_key_list(*, organization: Organization) -> QuerySet[OrganizationAPIKey]:
    return OrganizationAPIKey.objects.filter(organization=organization).order_by("-created")
