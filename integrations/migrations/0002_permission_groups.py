"""Create the "Ops staff" and "Integration admins" groups on migrate.

Permissions are normally created after migrate (post_migrate), so they are created here first for
every installed app. `manage.py bootstrap` (run by `make run` and the production path) re-syncs the
groups after upgrades that add models."""
from django.db import migrations


def groups_create(apps, schema_editor):
    from django.apps import apps as live_apps
    from django.contrib.auth.management import create_permissions

    from integrations import bootstrap

    for app_config in live_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, using=schema_editor.connection.alias, apps=live_apps)
    bootstrap.groups_ensure()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("integrations", "0001_initial"),
    ]

    operations = [migrations.RunPython(groups_create, migrations.RunPython.noop, elidable=True)]
