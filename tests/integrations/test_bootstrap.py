import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from integrations import bootstrap
from integrations.models import SettingsChange

pytestmark = pytest.mark.django_db


def _perms(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


def test_groups_ensure_creates_ops_and_admin_groups_idempotently():
    # when
    bootstrap.groups_ensure()
    bootstrap.groups_ensure()
    # then
    assert Group.objects.filter(name__in=["Ops staff", "Integration admins"]).count() == 2
    ops, admins = _perms("Ops staff"), _perms("Integration admins")
    assert {"integrations.view_integration", "integrations.view_syncrun", "catalog.view_product",
            "integrations.run_flow", "integrations.change_opsexception"} <= ops
    assert "integrations.change_integration" not in ops  # ops staff cannot change settings or credentials
    assert {"integrations.change_integration", "integrations.add_integration", "integrations.run_flow",
            "integrations.import", "integrations.export", "catalog.change_product"} <= admins
    assert not any(p.startswith("auth.") for p in ops | admins)


def test_ops_staff_can_view_settings_and_reset_cursors_but_not_change_settings(client, django_user_model, fake_state):
    # given
    bootstrap.groups_ensure()
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops staff"))
    client.force_login(user)
    integration = fake_state.integration
    # when / then: the change page is read-only for them
    page = client.get(reverse("admin:integrations_integration_change", args=[integration.pk]))
    assert page.status_code == 200 and b"Pull things from Fake" in page.content
    assert b"s3cr3t-value" not in page.content and b"k-123" not in page.content
    before = dict(integration.settings)
    client.post(reverse("admin:integrations_integration_change", args=[integration.pk]), {"name": "Hacked"})
    integration.refresh_from_db()
    assert (integration.name, integration.settings) == ("Fake A", before)
    # and they may reset a cursor (recorded)
    url = reverse("admin:integrations_integration_flow_action", args=[integration.pk, fake_state.pk, "reset_cursor"])
    assert client.post(url, {"confirmed": "yes"}).status_code == 302
    assert SettingsChange.objects.get().user == user


def test_the_data_migration_creates_both_groups():
    import importlib
    from types import SimpleNamespace

    from django.db import connection

    # given: no groups (a transactional test may have flushed the migrated ones)
    Group.objects.all().delete()
    migration = importlib.import_module("integrations.migrations.0002_permission_groups")
    # when
    migration.groups_create(None, SimpleNamespace(connection=connection))
    # then
    assert "integrations.run_flow" in _perms("Ops staff")
    assert "integrations.change_integration" in _perms("Integration admins")


def test_ops_staff_see_the_webhook_events_list(client, django_user_model):
    """Issue #11: Ops staff see everything, connector records (TikTok webhook events) included."""
    bootstrap.groups_ensure()
    assert "tiktok.view_webhookevent" in _perms("Ops staff") and "tiktok.view_webhookevent" in _perms("Integration admins")
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Ops staff"))
    client.force_login(user)
    assert client.get(reverse("admin:tiktok_webhookevent_changelist")).status_code == 200
    assert "tiktok.change_webhookevent" not in _perms("Ops staff")
