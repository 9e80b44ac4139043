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


def test_the_dispatcher_ticks_every_30_seconds():
    # django-q2 cron has a one-minute resolution and its scheduler looks every 30 s: a second schedule at :30 of
    # every minute makes the tick 30 s (each look finds one of them due; django-q2 keeps a MINUTES schedule's phase).
    call_command("setup_schedules")
    half = Schedule.objects.get(name="integrations.dispatch_due_flows_half")
    assert (half.func, half.schedule_type, half.minutes, half.repeats) == (
        "integrations.tasks.flows_dispatch_due_task", Schedule.MINUTES, 1, -1)
    assert (half.next_run.second, half.next_run.microsecond) == (30, 0)
    assert half.calculate_next_run().second == 30
