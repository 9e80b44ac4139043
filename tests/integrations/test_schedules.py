import pytest
from django.core.management import call_command
from django_q.models import Schedule

pytestmark = pytest.mark.django_db


def test_setup_schedules_is_idempotent():
    # when
    call_command("setup_schedules")
    call_command("setup_schedules")
    # then
    dispatcher = Schedule.objects.get(name="integrations.dispatch_due_flows")
    assert (dispatcher.func, dispatcher.schedule_type, dispatcher.cron, dispatcher.repeats) == (
        "integrations.tasks.flows_dispatch_due_task", Schedule.CRON, "* * * * *", -1)
    assert dispatcher.next_run is not None
    assert Schedule.objects.filter(name="integrations.dispatch_due_flows").count() == 1
