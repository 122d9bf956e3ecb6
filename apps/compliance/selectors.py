"""Reads of compliance data scoped to the organisations a person works for.

Roles are Django groups, so a permission such as ``compliance.decide_case`` is
global once held; which organisations it applies to comes from the person's
memberships and the role each one carries (``apps.core.roles``).
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from django.db.models import Q, QuerySet


def role_grants(role: str, perm: str) -> bool:
    """Whether ``role`` carries ``perm`` (``"app_label.codename"``) by the role table."""
    from apps.core.roles import ROLE_PERMISSIONS

    app_label, _, codename = perm.partition(".")
    return any(
        app == app_label and fnmatchcase(codename, pattern) for app, pattern in ROLE_PERMISSIONS.get(role, [])
    )


def organization_ids_for(user: Any, perm: str | None = None) -> set[Any] | None:
    """Organisations whose compliance data ``user`` may see (or, with ``perm``, act on); ``None`` = all
    (superusers)."""
    if getattr(user, "is_superuser", False):
        return None
    if user is None or not getattr(user, "is_authenticated", False):
        return set()
    cached = getattr(user, "_compliance_memberships", None)
    if cached is None:
        from apps.core.models import Membership

        cached = list(Membership.objects.filter(user_id=user.pk).values_list("organization_id", "role"))
        user._compliance_memberships = cached
    return {org for org, role in cached if perm is None or role_grants(str(role), perm)}


def scoped(
    queryset: QuerySet, *, user: Any, field: str = "organization", platform_rows: bool = False
) -> QuerySet:
    """``queryset`` limited to the user's organisations; ``platform_rows`` keeps rows without one."""
    ids = organization_ids_for(user)
    if ids is None:
        return queryset
    condition = Q(**{f"{field}__in": ids})
    if platform_rows:
        condition |= Q(**{f"{field}__isnull": True})
    return queryset.filter(condition)
