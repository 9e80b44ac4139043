"""The targeted-work outbox under real concurrency (PostgreSQL): two webhooks queuing ids on the same
flow at once lose nothing (the row lock serializes the read-modify-write)."""
import threading

import pytest
from django.db import connection, connections, transaction

from integrations import services
from integrations.models import FlowState

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]


def _thread(target, errors):
    def run():
        try:
            target()
        except Exception as exc:  # surfaced by the assertions
            errors.append(exc)
        finally:
            connections.close_all()
    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_two_concurrent_additions_to_the_outbox_keep_both(fake_state):
    # given: webhook A has queued its id and has not committed yet
    a_added, a_commit, errors = threading.Event(), threading.Event(), []

    def webhook_a():
        with transaction.atomic():
            services.flow_pending_add(flow_state=FlowState.objects.get(pk=fake_state.pk), params={"ids": ["a"]})
            a_added.set()
            assert a_commit.wait(timeout=20)

    def webhook_b():
        services.flow_pending_add(flow_state=FlowState.objects.get(pk=fake_state.pk), params={"ids": ["b"]})

    first = _thread(webhook_a, errors)
    assert a_added.wait(timeout=20)
    # when: webhook B queues another id meanwhile (it waits for A's row lock), then A commits
    second = _thread(webhook_b, errors)
    second.join(timeout=1)
    a_commit.set()
    first.join(timeout=20)
    second.join(timeout=20)
    # then: both ids are pending
    assert errors == []
    fake_state.refresh_from_db()
    assert fake_state.pending_params == {"ids": ["a", "b"]}
