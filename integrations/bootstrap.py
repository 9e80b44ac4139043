"""Set-up services: permission groups, local admin, demo seeding hook."""
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission

from config.env import VAR_DIR

# Ops staff run the day-to-day: see everything, work orders/exceptions/holds, run flows.
OPS_GROUP = "Ops staff"
ADMIN_GROUP = "Integration admins"

OPS_APPS = ("orders", "inventory", "catalog", "finance", "integrations")
OPS_EXTRA = [
    "integrations.run_flow", "integrations.change_opsexception", "orders.release_hold",
    "orders.change_order", "orders.change_shippingrequest", "inventory.change_inventorylevel",
]


# Task schedules and task results: view only, for both groups. Adding or changing a django-q2 Schedule
# names any importable function (os.system) run by the worker, which holds the encryption keys: superusers
# only (enforced in integrations/admin_tasks.py whatever the permissions), and the hub's own schedules are
# managed by code (integrations/schedules.py).
TASK_VIEWS = ("django_q.view_schedule", "django_q.view_success", "django_q.view_failure")


def _permissions(names) -> list[Permission]:
    found = [Permission.objects.filter(content_type__app_label=p.split(".")[0], codename=p.split(".")[1]).first()
             for p in names]
    return [p for p in found if p]


def connector_apps() -> tuple[str, ...]:
    """App labels of the installed connectors (their records — e.g. TikTok webhook events — are seen by
    both groups, read-only)."""
    from django.apps import apps

    return tuple(a.label for a in apps.get_app_configs() if a.name.startswith("integrations.connectors."))


def groups_ensure() -> None:
    ops, _ = Group.objects.get_or_create(name=OPS_GROUP)
    views = Permission.objects.filter(content_type__app_label__in=OPS_APPS + connector_apps(), codename__startswith="view_")
    ops.permissions.set(list(views) + _permissions(OPS_EXTRA) + _permissions(TASK_VIEWS))
    admins, _ = Group.objects.get_or_create(name=ADMIN_GROUP)
    connector_views = Permission.objects.filter(content_type__app_label__in=connector_apps(), codename__startswith="view_")
    admins.permissions.set(list(Permission.objects.filter(content_type__app_label__in=OPS_APPS)) + list(connector_views)
                           + _permissions(TASK_VIEWS))


def local_admin_ensure() -> tuple[str, str]:
    """A superuser for the local run; its password is generated once into var/."""
    VAR_DIR.mkdir(exist_ok=True)
    path = VAR_DIR / "admin_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    password = path.read_text().strip()
    User = get_user_model()
    user, created = User.objects.get_or_create(username="admin", defaults={"is_staff": True, "is_superuser": True})
    if created or not user.check_password(password):
        user.set_password(password)
        user.is_staff = user.is_superuser = True
        user.save()
    return "admin", password


def demo_seed() -> str:
    """Seed the sandbox demo when the sandbox package provides one."""
    try:
        from integrations.sandbox import demo
    except ImportError:
        return ""
    return demo.demo_seed()
