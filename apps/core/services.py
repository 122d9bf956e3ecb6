"""Services for tenancy, roles, API keys and platform plumbing."""

from __future__ import annotations

import fnmatch
from decimal import Decimal
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core.choices import Role
from apps.core.exceptions import ApplicationError
from apps.core.models import Membership, Organization, OrganizationAPIKey, User


def roles_sync(*, group_model: Any = None, permission_model: Any = None) -> None:
    """Create the role groups and give them the permissions of ``apps.core.roles`` (idempotent).

    Runs from the ``0002_roles`` data migration (with historical models) and
    after every migrate, so permissions of models added later are granted too.
    """
    from django.contrib.auth.models import Group as DefaultGroup
    from django.contrib.auth.models import Permission as DefaultPermission

    Group = group_model or DefaultGroup
    Permission = permission_model or DefaultPermission
    from apps.core.roles import ROLE_GROUP_NAMES, ROLE_PERMISSIONS

    perms = list(Permission.objects.select_related("content_type").all())
    for role, patterns in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=ROLE_GROUP_NAMES[role])
        wanted = [
            p
            for p in perms
            if any(
                p.content_type.app_label == app and fnmatch.fnmatch(p.codename, pat) for app, pat in patterns
            )
        ]
        group.permissions.set(wanted)


def role_group_name(role: str) -> str:
    from apps.core.roles import ROLE_GROUP_NAMES

    return ROLE_GROUP_NAMES[Role(role)]


def _audit(
    action: str, *, actor: Any, target: Any, before: dict | None = None, after: dict | None = None
) -> None:
    """Security-relevant changes (keys, roles) go to the compliance layer's hash-chained audit log."""
    from django.apps import apps

    if apps.is_installed("apps.compliance"):
        from apps.compliance.services import audit_record

        audit_record(action=action, actor=actor, target=target, before=before, after=after)


@transaction.atomic
def organization_create(*, name: str, slug: str, owner: User | None = None, **fields: Any) -> Organization:
    org = Organization.objects.create(name=name, slug=slug, **fields)
    if owner is not None:
        membership_add(organization=org, user=owner, role=Role.OWNER)
    return org


@transaction.atomic
def membership_add(*, organization: Organization, user: User, role: str) -> Membership:
    from django.contrib.auth.models import Group

    previous = (
        Membership.objects.filter(organization=organization, user=user).values_list("role", flat=True).first()
    )
    membership, _ = Membership.objects.update_or_create(
        organization=organization, user=user, defaults={"role": role}
    )
    if previous != role:
        _audit(
            "core.membership_role_set",
            actor=None,
            target=membership,
            before={"role": previous} if previous else None,
            after={"user": str(user.pk), "role": role},
        )
    group = Group.objects.filter(name=role_group_name(role)).first()
    if group is not None:
        user.groups.add(group)
    return membership


@transaction.atomic
def api_key_create(
    *,
    organization: Organization,
    name: str,
    scopes: list[str],
    actor: User | None = None,
    expiry_date: Any = None,
    spending_limit_per_payment: Decimal | None = None,
    spending_limit_daily: Decimal | None = None,
    spending_limit_currency: str = "",
    rotated_from: OrganizationAPIKey | None = None,
) -> tuple[OrganizationAPIKey, str]:
    """Create a key; the plaintext is returned once and never stored."""
    key, raw = OrganizationAPIKey.objects.create_key(  # type: ignore[misc]
        name=name,
        organization=organization,
        scopes=scopes,
        created_by=actor,
        expiry_date=expiry_date,
        spending_limit_per_payment=spending_limit_per_payment,
        spending_limit_daily=spending_limit_daily,
        spending_limit_currency=spending_limit_currency,
        rotated_from=rotated_from,
    )
    _audit(
        "core.api_key_created",
        actor=actor,
        target=key,
        after={
            "name": name,
            "prefix": key.prefix,
            "scopes": list(scopes),
            "rotated_from": getattr(rotated_from, "pk", None),
        },
    )
    return cast(OrganizationAPIKey, key), raw


@transaction.atomic
def api_key_revoke(*, api_key: OrganizationAPIKey, actor: User | None = None) -> OrganizationAPIKey:
    key = OrganizationAPIKey.objects.select_for_update(of=("self",)).get(pk=api_key.pk)
    if key.revoked:
        raise ApplicationError("This API key is already revoked.", code="api_key_revoked", status_code=409)
    key.revoked = True
    key.save(update_fields=["revoked"])
    _audit(
        "core.api_key_revoked", actor=actor, target=key, before={"revoked": False}, after={"revoked": True}
    )
    return key


@transaction.atomic
def api_key_rotate(
    *, api_key: OrganizationAPIKey, actor: User | None = None
) -> tuple[OrganizationAPIKey, str]:
    """Issue a new key with the same scopes and limits and revoke the old one."""
    old = api_key_revoke(api_key=api_key, actor=actor)
    return api_key_create(
        organization=old.organization,
        name=old.name,
        scopes=list(old.scopes),
        actor=actor,
        expiry_date=old.expiry_date,
        spending_limit_per_payment=old.spending_limit_per_payment,
        spending_limit_daily=old.spending_limit_daily,
        spending_limit_currency=old.spending_limit_currency,
        rotated_from=old,
    )


def beat_schedule_collect() -> dict[str, dict[str, Any]]:
    """Periodic tasks declared by the apps: ``BEAT_SCHEDULE`` in ``apps/<app>/schedule.py``,
    plus ``CELERY_BEAT_SCHEDULE`` from settings (which wins on a name clash)."""
    from importlib import import_module
    from importlib.util import find_spec

    from django.apps import apps as django_apps

    schedule: dict[str, dict[str, Any]] = {}
    for config in django_apps.get_app_configs():
        module_name = f"{config.name}.schedule"
        if config.name.startswith("apps.") and find_spec(module_name) is not None:
            schedule.update(getattr(import_module(module_name), "BEAT_SCHEDULE", {}))
    schedule.update(settings.CELERY_BEAT_SCHEDULE)
    return schedule


def periodic_tasks_sync() -> int:
    """Install the collected periodic tasks into django-celery-beat (run at beat start and by migrate).

    Each entry: ``{"task": "...", "seconds": 30}`` or ``{"task": ..., "crontab": {"minute": "0", ...}}``.
    Existing rows keep admin edits to their enabled flag; schedule and task follow the code.
    """
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    count = 0
    for name, entry in beat_schedule_collect().items():
        defaults: dict[str, Any] = {"task": entry["task"], "interval": None, "crontab": None}
        if "seconds" in entry:
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=entry["seconds"], period=IntervalSchedule.SECONDS
            )
            defaults["interval"] = interval
        else:
            cron = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
            cron.update(entry["crontab"])
            crontab, _ = CrontabSchedule.objects.get_or_create(**cron, timezone="UTC")
            defaults["crontab"] = crontab
        PeriodicTask.objects.update_or_create(name=name, defaults=defaults)
        count += 1
    return count


def now() -> Any:
    return timezone.now()
