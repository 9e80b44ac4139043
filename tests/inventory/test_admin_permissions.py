"""Bulk import/export of inventory data needs the declared integrations.import / integrations.export permissions."""
import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

pytestmark = pytest.mark.django_db


def _staff_with(django_user_model, *perms):
    user = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    for app_label, codename in perms:
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return django_user_model.objects.get(pk=user.pk)


@pytest.mark.parametrize("model", ["location", "locationlink", "inventorylevel"])
def test_import_is_forbidden_with_only_view_permission(client, django_user_model, model):
    # given a staff user who may only view the model
    user = _staff_with(django_user_model, ("inventory", f"view_{model}"))
    client.force_login(user)
    # when they open the import and export pages
    import_response = client.get(reverse(f"admin:inventory_{model}_import"))
    export_response = client.get(reverse(f"admin:inventory_{model}_export"))
    # then both are refused
    assert import_response.status_code == 403
    assert export_response.status_code == 403


@pytest.mark.parametrize("model", ["location", "locationlink", "inventorylevel"])
def test_import_and_export_open_with_the_declared_permissions(client, django_user_model, model):
    # given a staff user with view plus the declared app-level import/export permissions
    user = _staff_with(django_user_model, ("inventory", f"view_{model}"), ("integrations", "import"),
                       ("integrations", "export"))
    client.force_login(user)
    # when they open the import and export pages
    import_response = client.get(reverse(f"admin:inventory_{model}_import"))
    export_response = client.get(reverse(f"admin:inventory_{model}_export"))
    # then both open
    assert import_response.status_code == 200
    assert export_response.status_code == 200
    assert b"import_file" in import_response.content


def test_import_permission_alone_does_not_grant_export(client, django_user_model):
    # given a staff user with view and import, but not export
    user = _staff_with(django_user_model, ("inventory", "view_location"), ("integrations", "import"))
    client.force_login(user)
    # then import opens and export is refused
    assert client.get(reverse("admin:inventory_location_import")).status_code == 200
    assert client.get(reverse("admin:inventory_location_export")).status_code == 403
