"""The engine's reliability rules (issue #10 defects 5, 10, 11, 12 and the django-q2 points), through the
fake connector: unexpected errors fail runs, targeted runs leave the poll alone, the outbox never loses
targeted work, skipped records stay visible and retryable."""
import logging
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import services
from integrations.exceptions import TransientError
from integrations.models import FlowState, OpsException, SyncRun
from tests.integrations.fake_connector import REMOTE, things_count

pytestmark = pytest.mark.django_db


def _page(*ids, value="v1"):
    return [{"id": i, "value": value} for i in ids]


def _open_outage(state):
    return services.exception_raise(category=OpsException.Category.CONNECTOR, code="outage", integration=state.integration,
                                    dedup_key=f"connector:outage:{state.pk}", message="down")


# --- defect 5: an unexpected exception fails the run ----------------------------------------------

def test_unexpected_exception_fails_the_run_and_keeps_poll_state(fake_state, caplog):
    # given: a pending force-resync, an open outage alert, a crash inside apply
    FlowState.objects.filter(pk=fake_state.pk).update(force_full=True)
    outage = _open_outage(fake_state)
    REMOTE.update(pages=[_page("a", "b")], crash_in_apply="b")
    before = timezone.now()
    # when
    with caplog.at_level(logging.ERROR, logger="integrations.engine"), pytest.raises(RuntimeError):
        services.flow_run(flow_state=fake_state)
    run = SyncRun.objects.get(flow_state=fake_state)
    # then: recorded failed (and raised), counted, backed off; nothing cleared, nothing written
    fake_state.refresh_from_db()
    outage.refresh_from_db()
    assert (run.status, run.error_class, run.error_message) == ("failed", "RuntimeError", "crash in the middle of a page")
    assert fake_state.consecutive_failures == 1
    assert fake_state.force_full is True
    assert fake_state.last_succeeded_at is None
    assert fake_state.last_error == "crash in the middle of a page"
    assert before + timedelta(seconds=14) < fake_state.next_run_at <= timezone.now() + timedelta(seconds=30)
    assert outage.status == OpsException.Status.OPEN
    assert fake_state.cursor == {} and things_count(fake_state.integration) == 0
    assert fake_state.lease_token == ""
    crashed = [r for r in caplog.records if r.getMessage().startswith("flow.crashed")]
    assert len(crashed) == 1 and "RuntimeError: crash in the middle of a page" in crashed[0].getMessage()
    assert crashed[0].exc_info is not None  # logged with its traceback
    assert "Traceback (most recent call last)" in caplog.text and 'raise RuntimeError("crash in the middle' in caplog.text


def test_third_unexpected_failure_raises_a_visible_exception_resolved_by_success(fake_state):
    REMOTE.update(pages=[_page("a")], crash_in_apply="a")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            services.flow_run(flow_state=fake_state)
        fake_state.refresh_from_db()
    alert = OpsException.objects.get(dedup_key=f"connector:outage:{fake_state.pk}")
    assert (alert.code, alert.status, fake_state.consecutive_failures) == ("flow_error", "open", 3)
    assert "RuntimeError" in alert.message
    REMOTE["crash_in_apply"] = None
    run = services.flow_run(flow_state=fake_state)
    alert.refresh_from_db()
    assert run.status == "succeeded" and alert.status == "resolved"


def test_crash_message_and_log_never_carry_credentials(fake_state, caplog):
    REMOTE.update(pages=[_page("a")], fail_at_page=0,
                  error=ValueError("GET https://x.test/api?app_secret=s3cr3t-value&access_token=tok-999 failed (echo: s3cr3t-value)"))
    with caplog.at_level(logging.ERROR, logger="integrations.engine"), pytest.raises(ValueError):
        services.flow_run(flow_state=fake_state)
    run = SyncRun.objects.get(flow_state=fake_state)
    assert run.status == "failed"
    logged = caplog.text  # messages and tracebacks
    for secret in ("s3cr3t-value", "tok-999"):  # a stored credential echoed raw, a secret-named parameter
        assert secret not in run.error_message and secret not in logged
    assert "app_secret=" in run.error_message and "Traceback" in logged


def test_timeout_inside_a_flow_is_recorded_failed_and_propagates(fake_state):
    from django_q.exceptions import TimeoutException

    REMOTE.update(pages=[_page("a")], fail_at_page=0, error=TimeoutException("Task exceeded maximum timeout value (600 seconds)"))
    with pytest.raises(TimeoutException):
        services.flow_run(flow_state=fake_state)
    run = SyncRun.objects.get(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert (run.status, run.error_class) == ("failed", "TimeoutException")
    assert fake_state.consecutive_failures == 1 and fake_state.lease_token == ""


# --- defect 10: targeted runs leave the poll alone ----------------------------------------------------

def _poll_state(state, *, failures=2):
    next_run = timezone.now() + timedelta(minutes=3)
    FlowState.objects.filter(pk=state.pk).update(cursor={"page": 1}, next_run_at=next_run, force_full=True,
                                                 consecutive_failures=failures, last_error="earlier 503")
    return next_run


def test_targeted_run_touches_neither_schedule_cursor_force_flag_nor_health(fake_state):
    # given
    REMOTE["pages"] = [_page("a"), _page("b")]
    next_run = _poll_state(fake_state)
    outage = _open_outage(fake_state)
    # when
    run = services.flow_run(flow_state=fake_state, trigger=SyncRun.Trigger.WEBHOOK, params={"ids": ["b"]})
    # then: "b" applied, the poll's state exactly as it was
    fake_state.refresh_from_db()
    outage.refresh_from_db()
    assert (run.status, run.created, run.cursor_after) == ("succeeded", 1, {"page": 1})
    assert fake_state.cursor == {"page": 1}
    assert fake_state.next_run_at == next_run
    assert fake_state.force_full is True
    assert (fake_state.consecutive_failures, fake_state.last_error, fake_state.last_succeeded_at) == (2, "earlier 503", None)
    assert outage.status == "open"
    assert things_count(fake_state.integration) == 1


def test_failed_targeted_run_does_not_count_against_the_poll(fake_state):
    REMOTE.update(pages=[_page("a")], fail_at_page="targeted", error=TransientError("503"))
    next_run = _poll_state(fake_state, failures=0)
    run = services.flow_run(flow_state=fake_state, trigger=SyncRun.Trigger.WEBHOOK, params={"ids": ["a"]})
    fake_state.refresh_from_db()
    assert run.status == "failed"
    assert (fake_state.consecutive_failures, fake_state.next_run_at, fake_state.cursor) == (0, next_run, {"page": 1})


def test_targeted_run_colliding_with_a_running_poll_is_queued_not_lost(fake_state, django_capture_on_commit_callbacks):
    # given: the poll holds the lease
    REMOTE["pages"] = [_page("a", "b")]
    lease = services.flow_lease_claim(flow_state=fake_state)
    # when a webhook-targeted run arrives
    run = services.flow_run(flow_state=fake_state, trigger=SyncRun.Trigger.WEBHOOK, params={"ids": ["b"]})
    # then: recorded as queued, the id waits in the outbox
    fake_state.refresh_from_db()
    assert run.status == "skipped" and "queued" in run.note
    assert fake_state.pending_params == {"ids": ["b"]}
    # when the poll ends, its finish enqueues the drain (tasks run inline in tests)
    services.flow_lease_release(flow_state=fake_state, lease=lease)
    with django_capture_on_commit_callbacks(execute=True):
        drained = services.flow_run_pending(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert (drained.status, drained.created, drained.trigger) == ("succeeded", 1, "webhook")
    assert fake_state.pending_params == {} and fake_state.pending_run_at is None
    assert things_count(fake_state.integration) == 1


def test_poll_finishing_enqueues_a_drain_of_ids_that_arrived_meanwhile(fake_state, django_capture_on_commit_callbacks):
    REMOTE["pages"] = [_page("a"), _page("b")]
    services.flow_pending_add(flow_state=fake_state, params={"ids": ["b"]})
    with django_capture_on_commit_callbacks(execute=True):
        poll = services.flow_run(flow_state=fake_state)
    runs = list(SyncRun.objects.filter(flow_state=fake_state).order_by("pk").values_list("trigger", "status", "cursor_after"))
    assert poll.status == "succeeded"
    assert runs == [("schedule", "succeeded", {"page": 2}), ("webhook", "succeeded", {"page": 2})]
    fake_state.refresh_from_db()
    assert fake_state.pending_params == {}


# --- defect 11: the outbox survives a broker outage -----------------------------------------------------

def test_targeted_request_survives_a_broker_outage_and_the_dispatcher_drains_it(fake_state, monkeypatch,
                                                                                django_capture_on_commit_callbacks):
    import django_q.tasks

    REMOTE["pages"] = [_page("a", "b")]
    calls = []

    def broker_down(*args, **kwargs):
        calls.append(args[0])
        raise ConnectionError("Redis is down")

    monkeypatch.setattr(django_q.tasks, "async_task", broker_down)
    # when: the enqueue after commit fails
    with django_capture_on_commit_callbacks(execute=True):
        services.flow_targeted_request(flow_state=fake_state, params={"ids": ["b"]})
    # then: nothing raised, the work is committed in the outbox
    fake_state.refresh_from_db()
    assert calls == ["integrations.tasks.flow_run_pending_task"]
    assert fake_state.pending_params == {"ids": ["b"]} and fake_state.pending_run_at is not None
    assert things_count(fake_state.integration) == 0
    # when the broker is back, the dispatcher enqueues the drain (the poll is not due)
    monkeypatch.undo()
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=timezone.now() + timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.flows_dispatch_due()
    fake_state.refresh_from_db()
    assert things_count(fake_state.integration) == 1
    assert fake_state.pending_params == {} and fake_state.pending_run_at is None
    assert list(SyncRun.objects.values_list("trigger", "status")) == [("webhook", "succeeded")]


def test_failed_drain_keeps_the_ids_and_backs_off(fake_state):
    REMOTE.update(pages=[_page("a")], fail_at_page="targeted", error=TransientError("503"))
    services.flow_pending_add(flow_state=fake_state, params={"ids": ["a"]})
    run = services.flow_run_pending(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert run.status == "failed"
    assert fake_state.pending_params == {"ids": ["a"]} and fake_state.pending_inflight == {}
    assert fake_state.pending_failures == 1 and fake_state.pending_run_at > timezone.now()
    assert fake_state.consecutive_failures == 0


def test_ids_queued_while_a_drain_runs_stay_pending_for_the_next_drain(fake_state):
    REMOTE["pages"] = [_page("a", "b")]
    services.flow_pending_add(flow_state=fake_state, params={"ids": ["a"]})
    REMOTE["during_targeted"] = lambda: services.flow_pending_add(flow_state=FlowState.objects.get(pk=fake_state.pk),
                                                                  params={"ids": ["b", "a"]})
    run = services.flow_run_pending(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert (run.status, run.created) == ("succeeded", 1)
    # both wait for the next drain: "a"'s new change may have come after this run read "a"
    assert fake_state.pending_params == {"ids": ["a", "b"]} and fake_state.pending_inflight == {}
    assert fake_state.pending_run_at is not None


def test_drain_recovers_ids_of_a_drain_whose_worker_died(fake_state):
    REMOTE["pages"] = [_page("a", "b")]
    # given: a worker took "a" into its drain and died (its lease expired)
    FlowState.objects.filter(pk=fake_state.pk).update(pending_inflight={"ids": ["a"]}, pending_params={"ids": ["b"]},
                                                      pending_run_at=timezone.now())
    # when
    run = services.flow_run_pending(flow_state=fake_state)
    # then
    fake_state.refresh_from_db()
    assert (run.status, run.created, run.note) == ("succeeded", 2, "targeted: {'ids': ['a', 'b']}")
    assert (fake_state.pending_params, fake_state.pending_inflight, fake_state.pending_run_at) == ({}, {}, None)


def test_drain_with_nothing_pending_records_nothing(fake_state):
    assert services.flow_run_pending(flow_state=fake_state) is None
    assert SyncRun.objects.count() == 0


# --- defect 12: skipped records are visible and retryable -----------------------------------------------

def test_skipped_record_opens_an_exception_with_its_payload_and_resolves_after_a_retry(
        fake_state, django_capture_on_commit_callbacks):
    # given: "b" cannot be read
    REMOTE["pages"] = [[{"id": "a", "value": "v1"}, {"id": "b", "broken": True}]]
    run = services.flow_run(flow_state=fake_state)
    assert (run.status, run.failed) == ("partial", 1)
    assert run.errors == [{"external_id": "b", "field": "value", "message": "missing value"}]
    exc = OpsException.objects.get(code="record_skipped")
    assert exc.status == "open" and exc.integration == fake_state.integration
    assert exc.dedup_key == f"record:{fake_state.integration_id}:pull_things:b"
    assert exc.details["payload"] == {"id": "b", "broken": True}
    assert (exc.details["flow"], exc.details["external_id"]) == ("pull_things", "b")
    # a second run that still cannot read it bumps the same exception
    services.flow_state_reset_cursor(flow_state=fake_state)
    fake_state.refresh_from_db()
    services.flow_run(flow_state=fake_state)
    exc.refresh_from_db()
    assert exc.count == 2 and OpsException.objects.filter(code="record_skipped").count() == 1
    # when the remote (or the mapper) is fixed and the record is retried
    REMOTE["pages"] = [_page("a", "b")]
    with django_capture_on_commit_callbacks(execute=True):
        assert services.exceptions_redrive_flows(exceptions=[exc]) == {"records": 1, "flows": 0}
    exc.refresh_from_db()
    assert exc.status == "resolved" and exc.resolution_note == "record applied by a later run"
    assert things_count(fake_state.integration) == 2
    retry = SyncRun.objects.filter(trigger="retry").get()
    assert (retry.status, retry.created, retry.note) == ("succeeded", 1, "targeted: {'ids': ['b']}")


def test_dry_run_opens_no_record_exception(fake_state):
    REMOTE["pages"] = [[{"id": "b", "broken": True}]]
    run = services.flow_run(flow_state=fake_state, dry_run=True)
    assert run.failed == 1
    assert OpsException.objects.count() == 0


def test_redrive_enqueues_the_flow_that_raised_an_exception(fake_state, monkeypatch):
    calls = []
    monkeypatch.setattr(services, "flow_run_enqueue", lambda **kw: calls.append((kw["flow_state"].flow, kw["trigger"])))
    REMOTE.update(pages=[_page("a")], crash_in_apply="a")
    for _ in range(3):
        with pytest.raises(RuntimeError):
            services.flow_run(flow_state=fake_state)
        fake_state.refresh_from_db()
    alert = OpsException.objects.get(code="flow_error")
    assert alert.details == {"flow": "pull_things"}
    assert services.exceptions_redrive_flows(exceptions=[alert]) == {"records": 0, "flows": 1}
    assert calls == [("pull_things", "retry")]


# --- newcomer findings ----------------------------------------------------------------------------------

def test_force_resync_enqueues_a_run_now(fake_state, monkeypatch):
    calls = []
    monkeypatch.setattr(services, "flow_run_enqueue", lambda **kw: calls.append((kw["flow_state"].pk, kw["trigger"])))
    next_run = timezone.now() + timedelta(minutes=5)
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=next_run)
    services.flow_state_force_resync(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert calls == [(fake_state.pk, "admin")]
    assert fake_state.force_full is True and fake_state.next_run_at == next_run


@pytest.mark.parametrize("seconds", [0, -5, 29])
def test_flow_interval_below_30_seconds_is_refused(fake_state, seconds):
    from django.core.exceptions import ValidationError

    fake_state.interval = timedelta(seconds=seconds)
    with pytest.raises(ValidationError) as err:
        fake_state.full_clean()
    assert err.value.message_dict == {"interval": ["The interval must be at least 30 seconds."]}


def test_saving_a_list_setting_in_another_order_records_no_change(fake_integration):
    from integrations.models import SettingsChange

    services.integration_update_settings(integration=fake_integration, values={"statuses": ["b", "a"], "skus": ["X", "Y"]})
    SettingsChange.objects.all().delete()
    diff = services.integration_update_settings(integration=fake_integration,
                                                values={"statuses": ["a", "b"], "skus": ["Y", "X"], "note": "hi"})
    assert diff == {"note": ["", "hi"]}
    assert list(SettingsChange.objects.values_list("diff", flat=True)) == [{"settings": {"note": ["", "hi"]}}]
    fake_integration.refresh_from_db()
    assert fake_integration.settings["statuses"] == ["b", "a"]


def test_dispatcher_hands_the_slot_back_when_the_broker_refuses(fake_state, monkeypatch, django_capture_on_commit_callbacks):
    import django_q.tasks

    due = timezone.now() - timedelta(seconds=5)
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=due, enabled=True)
    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: (_ for _ in ()).throw(ConnectionError("Redis is down")))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.flows_dispatch_due() == [fake_state.pk]
    fake_state.refresh_from_db()
    assert fake_state.next_run_at == due  # still due: the next tick enqueues it
    assert SyncRun.objects.count() == 0
