"""Create the role groups (owner, finance, compliance reviewer, developer) with their permissions."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_role_groups(apps, schema_editor):
    from apps.core.services import roles_sync

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    roles_sync(group_model=apps.get_model("auth", "Group"), permission_model=apps.get_model("auth", "Permission"))


def drop_role_groups(apps, schema_editor):
    from apps.core.roles import ROLE_GROUP_NAMES

    apps.get_model("auth", "Group").objects.filter(name__in=ROLE_GROUP_NAMES.values()).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("conversations", "0001_initial"),
        ("payments", "0001_initial"),
        ("accounting", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_role_groups, drop_role_groups)]
