"""No shell through the admin (issue #11, critical 2): only superusers create or change task schedules,
the hub's own schedules are managed by code, schedules and failed tasks are read-only for staff."""
import pytest
from django.contrib.auth.models import Group, Permission
from django.urls import reverse
from django_q.models import Failure, Schedule

from integrations import bootstrap
from integrations.schedules import schedules_ensure

pytestmark = pytest.mark.django_db

SHELL = {"name": "pwn", "func": "os.system", "args": "'touch /tmp/pwned'", "schedule_type": "O", "repeats": "-1",
         "next_run_0": "2030-01-01", "next_run_1": "00:00:00", "cluster": "", "intended_date_kind": "D"}


def _perms(group_name):
    group = Group.objects.get(name=group_name)
    return {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.select_related("content_type")}


@pytest.fixture
def member(django_user_model, client):
    bootstrap.groups_ensure()

    def login(group: str | None):
        user = django_user_model.objects.create_user(f"u-{group}", password="pw", is_staff=True)
        if group:
            user.groups.add(Group.objects.get(name=group))
        client.force_login(user)
        return user
    return login


def test_no_group_may_add_or_change_schedules_or_tasks_but_both_see_them():
    bootstrap.groups_ensure()
    for group in (bootstrap.OPS_GROUP, bootstrap.ADMIN_GROUP):
        perms = _perms(group)
        assert {p for p in perms if p.startswith("django_q.") and not p.startswith("django_q.view_")} == set()
        assert {"django_q.view_schedule", "django_q.view_failure", "django_q.view_success"} <= perms


def test_integration_admin_cannot_create_a_shell_schedule(member, client):
    member(bootstrap.ADMIN_GROUP)
    response = client.post(reverse("admin:django_q_schedule_add"), SHELL)
    assert response.status_code == 403
    assert not Schedule.objects.filter(func="os.system").exists()


def test_even_an_explicit_django_q_permission_does_not_allow_a_non_superuser(member, client):
    user = member(bootstrap.ADMIN_GROUP)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="django_q"))
    assert client.post(reverse("admin:django_q_schedule_add"), SHELL).status_code == 403
    schedules_ensure()
    schedule = Schedule.objects.get(name="integrations.dispatch_due_flows")
    client.post(reverse("admin:django_q_schedule_change", args=[schedule.pk]), {**SHELL, "name": schedule.name})
    assert Schedule.objects.get(pk=schedule.pk).func == "integrations.tasks.flows_dispatch_due_task"
    assert client.post(reverse("admin:django_q_schedule_delete", args=[schedule.pk]), {"post": "yes"}).status_code == 403
    assert Schedule.objects.filter(pk=schedule.pk).exists()
    assert not Schedule.objects.filter(func="os.system").exists()


def test_staff_see_schedules_and_failed_tasks_read_only(member, client):
    member(bootstrap.OPS_GROUP)
    schedules_ensure()
    failure = Failure.objects.create(id="f1", name="failed-1", func="integrations.tasks.flows_dispatch_due_task",
                                     started="2026-01-01T00:00Z", stopped="2026-01-01T00:01Z", success=False)
    page = client.get(reverse("admin:django_q_schedule_changelist"))
    assert page.status_code == 200 and b"integrations.dispatch_due_flows" in page.content
    fail_list = client.get(reverse("admin:django_q_failure_changelist"))
    assert fail_list.status_code == 200 and b"failed-1" in fail_list.content
    assert b"resubmit_task" not in fail_list.content  # resubmitting runs a stored func: superusers only
    response = client.post(reverse("admin:django_q_failure_changelist"),
                           {"action": "resubmit_task", "_selected_action": [failure.pk]})
    assert Failure.objects.filter(pk=failure.pk).exists()
    assert response.status_code in (200, 302, 403)


def test_superuser_may_add_a_schedule_but_not_change_the_hubs_own(admin_user, client):
    client.force_login(admin_user)
    schedules_ensure()
    assert client.post(reverse("admin:django_q_schedule_add"),
                       {**SHELL, "name": "custom", "func": "integrations.tasks.flows_dispatch_due_task", "args": ""}
                       ).status_code == 302
    assert Schedule.objects.filter(name="custom").exists()
    own = Schedule.objects.get(name="integrations.dispatch_due_flows")
    client.post(reverse("admin:django_q_schedule_change", args=[own.pk]), {**SHELL, "name": own.name})
    assert Schedule.objects.get(pk=own.pk).func == "integrations.tasks.flows_dispatch_due_task"
    assert client.post(reverse("admin:django_q_schedule_delete", args=[own.pk]), {"post": "yes"}).status_code == 403
