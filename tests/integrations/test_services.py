from datetime import timedelta

import pytest
from django.utils import timezone

from integrations import services
from integrations.exceptions import AuthError, RateLimitedError, TransientError
from integrations.models import ExternalRef, FlowState, Integration, OpsException, SyncRun
from tests.integrations.fake_connector import REMOTE, things_count

pytestmark = pytest.mark.django_db


def _page(*ids, value="v1"):
    return [{"id": i, "value": value} for i in ids]


def test_flow_run_creates_bindings_and_moves_cursor(fake_state):
    # given
    REMOTE["pages"] = [_page("a", "b"), _page("c")]
    # when
    run = services.flow_run(flow_state=fake_state)
    # then
    fake_state.refresh_from_db()
    assert (run.status, run.fetched, run.created, run.updated, run.unchanged, run.pages) == ("succeeded", 3, 3, 0, 0, 2)
    assert run.api_calls == 2
    assert fake_state.cursor == {"page": 2}
    assert things_count(fake_state.integration) == 3
    assert fake_state.lease_token == ""


def test_rerun_is_idempotent(fake_state):
    REMOTE["pages"] = [_page("a", "b")]
    services.flow_run(flow_state=fake_state)
    services.flow_state_reset_cursor(flow_state=fake_state)
    fake_state.refresh_from_db()
    run = services.flow_run(flow_state=fake_state)
    assert (run.created, run.updated, run.unchanged) == (0, 0, 2)
    assert things_count(fake_state.integration) == 2


def test_cursor_moves_only_after_commit_when_a_page_fails(fake_state):
    # given: page 2 raises a transient error
    REMOTE.update(pages=[_page("a"), _page("b")], fail_at_page=1, error=TransientError("boom 503"))
    # when
    run = services.flow_run(flow_state=fake_state)
    # then: page 1 committed with its cursor, page 2 nothing
    fake_state.refresh_from_db()
    assert run.status == "failed" and run.error_class == "TransientError"
    assert fake_state.cursor == {"page": 1}
    assert things_count(fake_state.integration) == 1
    assert fake_state.consecutive_failures == 1
    assert fake_state.next_run_at > timezone.now()
    # when the remote recovers, the run resumes from page 2 and duplicates nothing
    REMOTE["error"] = None
    run = services.flow_run(flow_state=fake_state)
    assert (run.status, run.created) == ("succeeded", 1)
    assert things_count(fake_state.integration) == 2


def test_crash_in_the_middle_of_a_page_rolls_back_the_page(fake_state):
    REMOTE.update(pages=[_page("a", "b", "c")], crash_in_apply="b")
    with pytest.raises(RuntimeError):
        services.flow_run(flow_state=fake_state)
    run = SyncRun.objects.get(flow_state=fake_state)
    assert (run.status, run.error_class) == ("failed", "RuntimeError")
    fake_state.refresh_from_db()
    assert things_count(fake_state.integration) == 0
    assert fake_state.cursor == {}
    assert fake_state.lease_token == ""  # released in finally
    REMOTE["crash_in_apply"] = None
    run = services.flow_run(flow_state=fake_state)
    assert run.created == 3 and things_count(fake_state.integration) == 3


def test_second_concurrent_run_is_folded_into_the_running_one(fake_state):
    # given: a run holds the lease
    lease = services.flow_lease_claim(flow_state=fake_state)
    assert lease is not None
    running = SyncRun.objects.create(flow_state=fake_state, integration=fake_state.integration, flow=fake_state.flow,
                                     trigger="schedule", status="running")
    # when: two more runs are asked for meanwhile
    first = services.flow_run(flow_state=fake_state)
    second = services.flow_run(flow_state=fake_state, trigger="admin")
    # then: nothing ran, no skipped rows; the running run counts them and the flow is marked to run again once
    assert first.status == second.status == "skipped" and first.pk is None
    assert first.note == "already running (lease held): it runs again once when it finishes"
    assert list(SyncRun.objects.filter(flow_state=fake_state).values_list("pk", "coalesced")) == [(running.pk, 2)]
    assert things_count(fake_state.integration) == 0
    fake_state.refresh_from_db()
    assert fake_state.rerun_requested is True


def test_folded_request_runs_again_once_after_the_running_run(fake_state):
    # given: a collision marked the flow while a run held the lease
    REMOTE["pages"] = [[{"id": "a", "value": 1}]]
    fake_state.enabled = True
    fake_state.save(update_fields=["enabled"])
    FlowState.objects.filter(pk=fake_state.pk).update(rerun_requested=True)
    # when: the run finishes
    run = services.flow_run(flow_state=fake_state)
    # then: the flow is due now (the dispatcher runs it once), the mark cleared, the run's counter untouched by save
    fake_state.refresh_from_db()
    assert run.status == "succeeded"
    assert fake_state.rerun_requested is False
    assert fake_state.next_run_at <= timezone.now()
    assert services.flows_dispatch_due(enqueue=False) == [fake_state.pk]
    assert services.flows_dispatch_due(enqueue=False) == []


def test_folded_request_after_a_failed_run_waits_for_the_backoff(fake_state):
    REMOTE.update(pages=[[{"id": "a", "value": 1}]], fail_at_page=0, error=TransientError("503"))
    FlowState.objects.filter(pk=fake_state.pk).update(rerun_requested=True, enabled=True)
    fake_state.refresh_from_db()
    run = services.flow_run(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert run.status == "failed" and fake_state.rerun_requested is False
    assert fake_state.next_run_at > timezone.now()


def test_coalesced_count_survives_the_running_runs_finish(fake_state):
    REMOTE["pages"] = [[{"id": "a", "value": 1}]]
    original = services._apply_page

    def collide(**kwargs):
        services.flow_run(flow_state=FlowState.objects.select_related("integration").get(pk=fake_state.pk))
        return original(**kwargs)

    services._apply_page, restore = collide, original
    try:
        run = services.flow_run(flow_state=fake_state)
    finally:
        services._apply_page = restore
    run.refresh_from_db()
    assert run.status == "succeeded" and run.coalesced == 1
    assert SyncRun.objects.filter(flow_state=fake_state).count() == 1


def test_expired_lease_can_be_taken_over(fake_state):
    FlowState.objects.filter(pk=fake_state.pk).update(lease_token="dead", lease_expires_at=timezone.now() - timedelta(seconds=1))
    REMOTE["pages"] = [_page("a")]
    assert services.flow_run(flow_state=fake_state).status == "succeeded"


def test_per_record_error_is_counted_and_the_flow_continues(fake_state):
    REMOTE["pages"] = [[{"id": "a", "value": 1}, {"id": "bad"}, {"id": "c", "value": 2}]]
    run = services.flow_run(flow_state=fake_state)
    assert (run.status, run.created, run.failed) == ("partial", 2, 1)
    assert run.errors == [{"external_id": "bad", "field": "value", "message": "missing value"}]


def test_auth_error_marks_integration_error_and_raises_exception(fake_state):
    REMOTE.update(pages=[_page("a")], fail_at_page=0, error=AuthError("token revoked"))
    run = services.flow_run(flow_state=fake_state)
    integration = Integration.objects.get(pk=fake_state.integration_id)
    assert run.status == "failed" and integration.status == "error" and integration.last_error == "token revoked"
    exc = OpsException.objects.get()
    assert (exc.category, exc.code, exc.status) == ("connector", "auth", "open")
    assert services.flows_dispatch_due(now=timezone.now() + timedelta(days=1)) == []


def test_rate_limit_backoff_honours_retry_after(fake_state):
    REMOTE.update(pages=[_page("a")], fail_at_page=0, error=RateLimitedError(retry_after=600))
    before = timezone.now()
    services.flow_run(flow_state=fake_state)
    fake_state.refresh_from_db()
    assert fake_state.next_run_at >= before + timedelta(seconds=600)


def test_dry_run_rolls_back_and_keeps_cursor(fake_state):
    REMOTE["pages"] = [_page("a", "b")]
    run = services.flow_run(flow_state=fake_state, dry_run=True)
    fake_state.refresh_from_db()
    assert (run.status, run.created, run.dry_run) == ("succeeded", 2, True)
    assert ExternalRef.objects.count() == 0
    assert fake_state.cursor == {}


def test_dispatch_enqueues_each_due_flow_once(fake_state, monkeypatch):
    calls = []
    monkeypatch.setattr(services, "flow_run_enqueue", lambda **kw: calls.append(kw["flow_state"].pk))
    now = timezone.now() + timedelta(seconds=1)
    assert services.flows_dispatch_due(now=now) == [fake_state.pk]
    assert services.flows_dispatch_due(now=now) == []
    assert calls == [fake_state.pk]


def test_dispatch_enqueues_the_longest_due_first_whatever_the_names(fake_state, monkeypatch):
    # Fair dispatch (#14.6): under a backlog the queue is first in, first out, so the enqueue order is the start
    # order; it follows the due time (then the least recently started), not the integrations' names.
    calls = []
    monkeypatch.setattr(services, "flow_run_enqueue", lambda **kw: calls.append(kw["flow_state"].integration.name))
    now = timezone.now()
    states = {"Fake A": fake_state}
    for name in ("Fake B", "Fake C", "Fake D"):
        integration = services.integration_create(name=name, connector="fake", credentials={"api_key": "k"})
        states[name] = integration.flow_states.get(flow="pull_things")
    due = {"Fake A": now - timedelta(seconds=10), "Fake B": now - timedelta(seconds=50),
           "Fake C": now - timedelta(seconds=30), "Fake D": now - timedelta(seconds=30)}
    started = {"Fake C": now - timedelta(seconds=40), "Fake D": now - timedelta(seconds=90)}
    for name, state in states.items():
        FlowState.objects.filter(pk=state.pk).update(enabled=True, next_run_at=due[name],
                                                     last_started_at=started.get(name, now - timedelta(seconds=60)))
    services.flows_dispatch_due(now=now)
    assert calls == ["Fake B", "Fake D", "Fake C", "Fake A"]


def test_dispatch_runs_a_flow_at_the_tick_nearest_its_due_time(fake_state, monkeypatch):
    # The dispatcher ticks every 30 s; a flow due less than half a tick ahead runs at this tick, so "every 30 s"
    # means every 30 s (it meant every minute on a one-minute tick that waited for the next one).
    monkeypatch.setattr(services, "flow_run_enqueue", lambda **kw: None)
    now = timezone.now()
    assert services.DISPATCH_TICK == timedelta(seconds=30)
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, next_run_at=now + timedelta(seconds=16))
    assert services.flows_dispatch_due(now=now) == []
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=now + timedelta(seconds=15))
    assert services.flows_dispatch_due(now=now) == [fake_state.pk]
    fake_state.refresh_from_db()
    assert fake_state.next_run_at == now + fake_state.interval


def test_credentials_are_encrypted_at_rest(fake_integration):
    raw = Integration.objects.filter(pk=fake_integration.pk).values_list("credentials_encrypted", flat=True).get()
    assert "s3cr3t-value" not in raw and raw.startswith("gAAAA")
    assert Integration.objects.get(pk=fake_integration.pk).get_credentials() == {"api_key": "k-123", "api_secret": "s3cr3t-value"}


def test_exception_dedup_bumps_count(fake_integration):
    first = services.exception_raise(category="ingestion", code="unknown_sku", message="SKU X unknown", dedup_key="k1", integration=fake_integration)
    again = services.exception_raise(category="ingestion", code="unknown_sku", message="SKU X unknown", dedup_key="k1", integration=fake_integration)
    assert first.pk == again.pk and again.count == 2
    assert services.exceptions_resolve(dedup_keys=["k1"]) == 1
    assert OpsException.objects.get().status == "resolved"


def test_engine_on_a_fake_clock_runs_a_30s_flow_at_every_tick_as_the_latency_model_says(fake_state, monkeypatch):
    # The engine itself, driven by a fake clock: the dispatcher ticks every 30 s, each claimed run takes 1 s and
    # succeeds (next run = finish + interval). The inventory-latency benchmark's schedule model must agree with it.
    from tests.benchmarks.bench_inventory_latency import TICK, pull_reads

    start = timezone.now().replace(microsecond=0)
    clock = {"now": start}
    monkeypatch.setattr(timezone, "now", lambda: clock["now"])
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, interval=timedelta(seconds=30), next_run_at=start)
    ran = []
    for tick in range(0, 300, int(TICK)):
        clock["now"] = start + timedelta(seconds=tick)
        for pk in services.flows_dispatch_due(now=clock["now"], enqueue=False):
            ran.append(tick)
            clock["now"] += timedelta(seconds=1)
            assert services.flow_run(flow_state=FlowState.objects.get(pk=pk)).status == "succeeded"
    assert ran == [0, 30, 60, 90, 120, 150, 180, 210, 240, 270]
    assert ran == pull_reads(interval=30.0, duration=1.0, buffer=0.0, horizon=300.0)


def test_a_scheduled_run_still_in_the_queue_is_not_enqueued_again(fake_state, monkeypatch):
    # Under a backlog a run can wait in the queue past its next tick: enqueuing it again piles copies that run back
    # to back (the queue grows with every tick). A claimed flow is enqueued again only once its run started, or when
    # the queued run looks lost (DISPATCH_STALE: the worker timeout).
    calls = []
    monkeypatch.setattr(services, "flow_run_enqueue", lambda **kw: calls.append(kw["trigger"]))
    now = timezone.now()
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, next_run_at=now)
    assert services.flows_dispatch_due(now=now) == [fake_state.pk]
    later = now + timedelta(seconds=60)  # two ticks on, still queued, due again
    assert services.flows_dispatch_due(now=later) == []
    assert services.flows_dispatch_due(now=now + services.DISPATCH_STALE + timedelta(seconds=1)) == [fake_state.pk]
    # once the queued run starts (even folded into a running one), the flow is dispatched as usual
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=now, dispatched_at=now)
    assert services.flow_run(flow_state=fake_state, trigger="schedule").status == "succeeded"
    FlowState.objects.filter(pk=fake_state.pk).update(next_run_at=now)
    assert services.flows_dispatch_due(now=later) == [fake_state.pk]
    assert calls == ["schedule", "schedule", "schedule"]


def test_a_queued_run_folded_into_a_running_one_counts_as_started(fake_state):
    now = timezone.now()
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, next_run_at=now, dispatched_at=now,
                                                      lease_token="other", lease_expires_at=now + timedelta(minutes=5))
    assert services.flow_run(flow_state=fake_state, trigger="schedule").status == "skipped"
    fake_state.refresh_from_db()
    assert (fake_state.dispatched_at, fake_state.rerun_requested) == (None, True)


def test_an_enqueue_the_broker_refused_hands_the_slot_back_for_the_next_tick(fake_state, monkeypatch,
                                                                              django_capture_on_commit_callbacks):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", refuse)
    now = timezone.now()
    FlowState.objects.filter(pk=fake_state.pk).update(enabled=True, next_run_at=now)
    with django_capture_on_commit_callbacks(execute=True):  # the enqueue runs on commit
        assert services.flows_dispatch_due(now=now) == [fake_state.pk]
    fake_state.refresh_from_db()
    assert (fake_state.next_run_at, fake_state.dispatched_at) == (now, None)


def test_the_lease_is_unbroken_only_while_it_is_ours_and_far_from_expiry(fake_state):
    # A push without an idempotency key reads back after a create only when another worker may have run the flow
    # meanwhile: that needs our lease to have expired (or been taken). Clocks may differ by LEASE_CLOCK_SKEW.
    from integrations.flows import FlowContext

    lease = services.flow_lease_claim(flow_state=fake_state)
    ctx = FlowContext(integration=fake_state.integration, flow_state=fake_state, run=None, started_at=timezone.now(),
                      lease_token=lease.token)
    assert services.flow_lease_unbroken(ctx=ctx) is True
    near = timezone.now() + services.LEASE_CLOCK_SKEW - timedelta(seconds=1)
    FlowState.objects.filter(pk=fake_state.pk).update(lease_expires_at=near)
    assert services.flow_lease_unbroken(ctx=ctx) is False
    FlowState.objects.filter(pk=fake_state.pk).update(lease_expires_at=lease.expires_at, lease_token="another worker")
    assert services.flow_lease_unbroken(ctx=ctx) is False
    no_lease = FlowContext(integration=fake_state.integration, flow_state=fake_state, run=None, started_at=timezone.now())
    assert services.flow_lease_unbroken(ctx=no_lease) is False
