"""The configured django-q2 broker for real: ORM by default, Redis when REDIS_URL is set (CI's
production-path run). A flow-run task goes through the broker, is signed, dequeued and run."""
import uuid

import pytest
from django.conf import settings
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from integrations.models import SyncRun
from integrations.tasks import flow_run_task
from tests.integrations.fake_connector import REMOTE

pytestmark = pytest.mark.django_db(transaction=True)


def test_flow_task_round_trips_through_the_configured_broker(fake_state):
    # given
    broker = get_broker(list_key=f"test-{uuid.uuid4().hex}")
    expected = "Redis" if settings.REDIS_URL else "ORM"
    assert type(broker).__name__ == expected
    REMOTE["pages"] = [[{"id": "a", "value": 1}]]
    try:
        # when: enqueued for real (not inline), then taken off the queue as a worker would
        async_task("integrations.tasks.flow_run_task", fake_state.pk, "schedule", None, {}, broker=broker, sync=False)
        assert broker.queue_size() == 1
        ((ack_id, payload),) = broker.dequeue()
        task = SignedPackage.loads(payload)
        broker.acknowledge(ack_id)
        # then: the package names the task by dotted path with JSON-able args, and running it works
        assert task["func"] == "integrations.tasks.flow_run_task"
        assert task["args"] == (fake_state.pk, "schedule", None, {})
        assert flow_run_task(*task["args"]) == "pull_things: succeeded"
        assert SyncRun.objects.get().created == 1
        assert broker.queue_size() == 0
    finally:
        broker.delete_queue()
