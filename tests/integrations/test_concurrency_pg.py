"""Real concurrency on PostgreSQL: two workers racing for the same flow / the same due flows."""
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from integrations import registry, services
from integrations.flows import Flow, Page
from integrations.models import ExternalRef, FlowState, SyncRun
from tests.integrations.fake_connector import SPEC
from tests.fixtures.threads import start_in_thread

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]

STARTED, RELEASE = threading.Event(), threading.Event()


class BlockingPull(Flow):
    """Holds its lease until the test releases it, so a second run overlaps for certain."""

    def pages(self, cursor):
        STARTED.set()
        assert RELEASE.wait(timeout=20)
        yield Page(items=[{"id": "a"}, {"id": "b"}], next_cursor={"page": 1})

    def apply(self, page, result):
        result.fetched += len(page.items)
        result.created += len(page.items)
        services.external_refs_bind(integration=self.ctx.integration, kind="thing",
                                    rows=[{"external_id": i["id"], "local": None, "payload_hash": "h"} for i in page.items])


@pytest.fixture
def blocking_state():
    flow = registry.FlowSpec("pull_things", "Pull things", "pull", "things", f"{__name__}.BlockingPull",
                             enable_setting="pull_things")
    registry.register(registry.ConnectorSpec(**{**SPEC.__dict__, "code": "fake_blocking", "flows": (flow,)}))
    STARTED.clear(), RELEASE.clear()
    integration = services.integration_create(name="Blocking", connector="fake_blocking")
    yield integration.flow_states.get()
    RELEASE.set()
    registry.unregister("fake_blocking")


def test_two_concurrent_runs_of_one_flow_one_succeeds_one_folded(blocking_state):
    # given: the first run holds the lease inside pages()
    results = {}
    first = start_in_thread(lambda: services.flow_run(flow_state=FlowState.objects.select_related("integration").get(pk=blocking_state.pk)),
                       results, "first")
    assert STARTED.wait(timeout=20)
    # when: a second worker runs the same flow at the same time
    second = start_in_thread(lambda: services.flow_run(flow_state=FlowState.objects.select_related("integration").get(pk=blocking_state.pk)),
                        results, "second")
    second.join(timeout=20)
    RELEASE.set()
    first.join(timeout=20)
    # then
    assert results["second"].status == "skipped" and results["second"].pk is None  # folded, not a row of its own
    assert results["first"].status == "succeeded"
    assert list(SyncRun.objects.values_list("status", "coalesced")) == [("succeeded", 1)]
    assert ExternalRef.objects.filter(integration=blocking_state.integration).count() == 2
    blocking_state.refresh_from_db()
    assert (blocking_state.cursor, blocking_state.lease_token) == ({"page": 1}, "")


def test_two_dispatchers_dispatch_each_due_flow_once(fake_registered, monkeypatch):
    # given: five due flows
    states = []
    for i in range(5):
        states += services.integration_create(name=f"Fake {i}", connector="fake").flow_states.all()
    FlowState.objects.update(next_run_at=timezone.now() - timedelta(seconds=5), enabled=True)
    enqueued, lock = [], threading.Lock()

    def record(*, flow_state, **kwargs):
        with lock:
            enqueued.append(flow_state.pk)
    monkeypatch.setattr(services, "flow_run_enqueue", record)
    barrier = threading.Barrier(2)
    results = {}

    def dispatch():
        barrier.wait(timeout=10)
        return services.flows_dispatch_due()
    # when
    threads = [start_in_thread(dispatch, results, n) for n in ("a", "b")]
    for thread in threads:
        thread.join(timeout=30)
    # then: every flow dispatched exactly once across both dispatchers
    assert not isinstance(results["a"], Exception) and not isinstance(results["b"], Exception)
    assert sorted(results["a"] + results["b"]) == sorted(s.pk for s in states)
    assert sorted(enqueued) == sorted(s.pk for s in states)
