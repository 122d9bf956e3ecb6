"""What each role may do in the console, as (app label, codename pattern) pairs.

Patterns: ``view_*`` matches every view permission of the app, ``*`` every
permission. Custom permissions (``compliance.approve_case``...) follow the same
rules, so apps added later are covered by ``roles_sync`` on migrate.
"""

from apps.core.choices import Role

AGENTPAY_APPS = ("core", "conversations", "intent", "payments", "compliance", "accounting")

ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    Role.OWNER: [(app, "*") for app in AGENTPAY_APPS] + [("django_celery_beat", "*")],
    Role.FINANCE: [
        ("payments", "*"),
        ("accounting", "*"),
        ("conversations", "view_*"),
        ("compliance", "view_*"),
        ("intent", "view_*"),
        ("core", "view_*"),
    ],
    Role.COMPLIANCE_REVIEWER: [
        ("compliance", "*"),
        ("payments", "view_*"),
        ("conversations", "view_*"),
        ("accounting", "view_*"),
        ("core", "view_*"),
    ],
    Role.DEVELOPER: [(app, "view_*") for app in AGENTPAY_APPS]
    + [
        ("core", "add_organizationapikey"),
        ("core", "change_organizationapikey"),
        ("django_celery_beat", "view_*"),
    ],
}

ROLE_GROUP_NAMES: dict[str, str] = {
    Role.OWNER: "Owner",
    Role.FINANCE: "Finance",
    Role.COMPLIANCE_REVIEWER: "Compliance reviewer",
    Role.DEVELOPER: "Developer",
}
