"""django-q2 delivery (issue #10): a task killed by the timeout guard is not redelivered, the queue settings
keep a queued task from being handed out twice, periodic tasks are single-flight, failures are pruned."""
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.brokers.orm import ORM
from django_q.conf import Conf
from django_q.models import OrmQ, Schedule, Task
from django_q.signals import pre_execute
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from integrations import services
from integrations.checks import check_task_queue
from integrations.models import SyncRun
from integrations.tasks import flow_run_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_task_killed_after_it_started_is_never_handed_out_again(fake_state, monkeypatch):
    # given: the ORM broker (receipts), a task fetched by a cluster
    import django_q.brokers

    monkeypatch.setattr(Conf, "ORM", "default")
    broker = ORM(list_key=f"test-{uuid.uuid4().hex}")
    monkeypatch.setattr(django_q.brokers, "get_broker", lambda *a, **k: broker)
    async_task("integrations.tasks.flow_run_task", fake_state.pk, "schedule", None, {}, broker=broker, sync=False)
    ((ack_id, payload),) = broker.dequeue()
    task = {**SignedPackage.loads(payload), "ack_id": ack_id}
    # when: a worker starts it (the signal django-q2's worker sends just before the call) and is then
    # killed by the guard: no result ever reaches the monitor, so nothing acknowledges it there
    pre_execute.send(sender="django_q", func=flow_run_task, task=task)
    OrmQ.objects.filter(pk=ack_id).update(lock=timezone.now() - timedelta(seconds=1))  # `retry` seconds later
    # then: the message is gone, no cluster receives it again
    assert not OrmQ.objects.filter(pk=ack_id).exists()
    assert broker.queue_size() == 0


def _cluster(**overrides):
    from django.conf import settings

    return {**{k: v for k, v in settings.Q_CLUSTER.items() if k != "sync"}, **overrides}


def test_shipped_queue_settings_cannot_hand_a_queued_task_out_twice(settings):
    settings.Q_CLUSTER = _cluster()
    conf = settings.Q_CLUSTER
    assert conf["queue_limit"] <= conf["workers"]
    assert conf["retry"] > conf["timeout"] * (1 + conf["queue_limit"] / conf["workers"])
    assert conf["max_attempts"] >= 1 and conf["ack_failures"] is True
    assert check_task_queue(None) == []


@pytest.mark.parametrize("overrides", [
    {"workers": 2, "queue_limit": 4, "timeout": 600, "retry": 900},  # the settings before the fix
    {"workers": 2, "queue_limit": 2, "timeout": 600, "retry": 600},
    {"max_attempts": 0},
])
def test_queue_settings_that_can_deliver_twice_are_flagged(settings, overrides):
    settings.Q_CLUSTER = _cluster(**overrides)
    assert [w.id for w in check_task_queue(None)] == ["integrations.W020"]


def test_hold_release_task_is_single_flight(monkeypatch):
    from orders import services as order_services
    from orders import tasks as order_tasks

    calls = []
    monkeypatch.setattr(order_services, "orders_release_due", lambda: calls.append(1) or 7)
    # given: another worker is releasing holds
    token = services.task_lease_claim(name="orders.release_due_holds")
    # when a second delivery of the task runs: it does nothing
    assert order_tasks.orders_release_due_task() is None
    assert calls == []
    # once the first is done, the next run works and releases its lease
    services.task_lease_release(name="orders.release_due_holds", token=token)
    assert order_tasks.orders_release_due_task() == 7
    assert calls == [1]
    assert services.task_lease_claim(name="orders.release_due_holds") is not None


def test_expired_task_lease_is_taken_over():
    from integrations.models import TaskLease

    assert services.task_lease_claim(name="x") is not None
    assert services.task_lease_claim(name="x") is None
    TaskLease.objects.filter(name="x").update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.task_lease_claim(name="x") is not None


def _task(success: bool, age_days: int) -> Task:
    at = timezone.now() - timedelta(days=age_days)
    return Task.objects.create(id=uuid.uuid4().hex, name=uuid.uuid4().hex, func="integrations.tasks.flow_run_task",
                               started=at, stopped=at, success=success)


def test_housekeeping_prunes_old_failed_tasks_and_old_runs_but_keeps_each_flows_last_run(fake_state, settings):
    settings.Q_FAILED_TASK_RETENTION_DAYS, settings.SYNC_RUN_RETENTION_DAYS = 30, 90
    old_failed, new_failed, old_success = _task(False, 31), _task(False, 29), _task(True, 31)
    runs = [SyncRun.objects.create(flow_state=fake_state, integration=fake_state.integration, flow=fake_state.flow,
                                   trigger="schedule", status="succeeded", started_at=timezone.now() - timedelta(days=days))
            for days in (200, 100, 10)]
    # when
    assert services.housekeeping_prune() == {"failed_tasks": 1, "sync_runs": 2, "rate_limit_counters": 0}
    # then
    assert set(Task.objects.values_list("id", flat=True)) == {new_failed.id, old_success.id}
    assert list(SyncRun.objects.values_list("pk", flat=True)) == [runs[2].pk]
    # the last run of a flow stays, however old
    SyncRun.objects.filter(pk=runs[2].pk).update(started_at=timezone.now() - timedelta(days=365))
    assert services.housekeeping_prune()["sync_runs"] == 0
    assert old_failed.id not in set(Task.objects.values_list("id", flat=True))


def test_housekeeping_thins_old_successes_to_one_per_flow_and_hour_and_keeps_failures(fake_state, settings):
    settings.SYNC_RUN_RETENTION_DAYS, settings.SYNC_RUN_SUCCESS_RETENTION_DAYS = 90, 7
    hour = (timezone.now() - timedelta(days=10)).replace(minute=0, second=0, microsecond=0)

    def run(status, minutes, days_ago=None):
        at = hour + timedelta(minutes=minutes) if days_ago is None else timezone.now() - timedelta(days=days_ago)
        return SyncRun.objects.create(flow_state=fake_state, integration=fake_state.integration, flow=fake_state.flow,
                                      trigger="webhook", status=status, started_at=at)

    first, second, third = run("succeeded", 1), run("skipped", 20), run("succeeded", 40)
    failed, partial = run("failed", 30), run("partial", 50)
    next_hour = run("succeeded", 70)
    recent = [run("succeeded", 0, days_ago=1) for _ in range(3)]
    # when
    pruned = services.housekeeping_prune()
    # then: the first success of each old hour stays, the other successes/skips go; failures and recent runs stay
    assert pruned["sync_runs"] == 2
    assert set(SyncRun.objects.values_list("pk", flat=True)) == {first.pk, failed.pk, partial.pk, next_hour.pk,
                                                                 *[r.pk for r in recent]}
    assert not SyncRun.objects.filter(pk__in=[second.pk, third.pk]).exists()
    assert services.housekeeping_prune()["sync_runs"] == 0


def test_housekeeping_is_scheduled_daily():
    from django.core.management import call_command

    call_command("setup_schedules")
    prune = Schedule.objects.get(name="integrations.housekeeping_prune")
    assert (prune.func, prune.schedule_type, prune.cron) == ("integrations.tasks.housekeeping_prune_task", Schedule.CRON, "17 3 * * *")
