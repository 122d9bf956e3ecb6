from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Tenancy, authentication, API conventions and platform plumbing shared by every layer."""

    name = "apps.core"
    label = "core"
    verbose_name = "AgentPay platform"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from apps.core import schema  # noqa: F401
        from apps.core.authcache import signals_connect
        from apps.core.services import roles_sync

        signals_connect()
        post_migrate.connect(lambda **kwargs: roles_sync(), dispatch_uid="core.roles_sync", weak=False)
