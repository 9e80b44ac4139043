"""The shared outbound limiter: slots spread evenly, waits instead of bursting, pauses on Retry-After, and on
PostgreSQL never holds a lock inside the caller's transaction."""
from __future__ import annotations

import os
import threading
import uuid

import pytest
from django.db import connection, transaction

from integrations import outbound_rate
from integrations.exceptions import RateLimitedError
from integrations.models import RateLimitCounter
from tests.fixtures.threads import start_in_thread


class FakeClock:
    def __init__(self, start_ms: int = 1_700_000_000_000):
        self.now = start_ms
        self.sleeps: list[float] = []

    def wall_ms(self) -> int:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.now += int(round(seconds * 1000))


@pytest.fixture
def clock(monkeypatch, settings):
    settings.OUTBOUND_RATE_LIMITS_ENABLED = True
    fake = FakeClock()
    monkeypatch.setattr(outbound_rate, "wall_ms", fake.wall_ms)
    monkeypatch.setattr(outbound_rate, "sleep", fake.sleep)
    return fake


@pytest.fixture(params=["database", "redis"])
def store(request, settings):
    if request.param == "redis":
        url = os.environ.get("REDIS_URL", "")
        if not url:
            pytest.skip("REDIS_URL not set: the Redis store is tested on the production path (make test-pg)")
        settings.REDIS_URL = url
    else:
        settings.REDIS_URL = ""
    return request.param


def key() -> str:
    return f"test:{uuid.uuid4().hex[:12]}"


def test_slot_spreads_the_limit_evenly():
    assert outbound_rate.slot_ms(limit=60, per_seconds=60) == 1000
    assert outbound_rate.slot_ms(limit=10, per_seconds=1) == 100
    assert outbound_rate.slot_ms(limit=1000, per_seconds=1) == outbound_rate.MIN_SLOT_MS


@pytest.mark.django_db
def test_switched_off_in_test_settings_writes_nothing(settings):
    assert settings.OUTBOUND_RATE_LIMITS_ENABLED is False
    assert outbound_rate.outbound_slot_acquire(key=key(), limit=1, per_seconds=60) == 0.0
    assert not RateLimitCounter.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_second_request_in_a_slot_waits_for_the_next_slot(clock, store):
    k = key()
    clock.now = 1_700_000_000_000  # at the start of a 1 s slot
    assert outbound_rate.outbound_slot_acquire(key=k, limit=60, per_seconds=60) == 0.0
    clock.now += 250
    assert outbound_rate.outbound_slot_acquire(key=k, limit=60, per_seconds=60) == 0.75
    assert clock.sleeps == [0.75]
    # 60 requests in a row take 59 s more than the first: never a burst past the limit.
    clock.sleeps.clear()
    started = clock.now
    for _ in range(60):
        outbound_rate.outbound_slot_acquire(key=k, limit=60, per_seconds=60)
    assert clock.now - started == 60_000
    assert len(clock.sleeps) == 60


@pytest.mark.django_db(transaction=True)
def test_keys_are_independent(clock, store):
    a, b = key(), key()
    assert outbound_rate.outbound_slot_acquire(key=a, limit=1, per_seconds=10) == 0.0
    assert outbound_rate.outbound_slot_acquire(key=b, limit=1, per_seconds=10) == 0.0
    assert clock.sleeps == []


@pytest.mark.django_db(transaction=True)
def test_a_wait_past_max_wait_raises_a_transient_error_without_sleeping(clock, store):
    k = key()
    clock.now -= clock.now % 120_000  # at the start of a 120 s slot
    outbound_rate.outbound_slot_acquire(key=k, limit=1, per_seconds=120)
    with pytest.raises(RateLimitedError) as caught:
        outbound_rate.outbound_slot_acquire(key=k, limit=1, per_seconds=120, max_wait=60)
    assert caught.value.retry_after == 120.0
    assert clock.sleeps == []


@pytest.mark.django_db(transaction=True)
def test_pause_holds_every_caller_until_retry_after(clock, store):
    k = key()
    outbound_rate.outbound_pause(key=k, seconds=7)
    outbound_rate.outbound_pause(key=k, seconds=2)  # a shorter pause never shortens a longer one
    assert outbound_rate.outbound_slot_acquire(key=k, limit=100, per_seconds=1) == 7.0
    assert clock.sleeps == [7.0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the lock question exists on PostgreSQL only")
def test_postgres_counter_is_written_outside_the_callers_transaction(clock, settings):
    settings.REDIS_URL = ""
    k = key()
    results: dict = {}
    done = threading.Event()
    with transaction.atomic():
        outbound_rate.outbound_slot_acquire(key=k, limit=1000, per_seconds=1)

        def other():
            value = outbound_rate.outbound_slot_acquire(key=k, limit=1000, per_seconds=1)  # the same counter row
            done.set()
            return value

        thread = start_in_thread(other, results, "other")
        # The caller's transaction is still open: the other worker's slot must not wait for it.
        assert done.wait(10), "the other worker's slot waited for the caller's transaction"
        thread.join(10)
        # Already committed, visible from another connection while this transaction is open.
        assert RateLimitCounter.objects.filter(scope="outbound", key=k).exists()
    assert results["other"] in (0.0, 0.02)
