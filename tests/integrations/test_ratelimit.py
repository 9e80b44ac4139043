"""Fixed-window counters: exact counts per window, Retry-After to the window's end, no lost count under
concurrency (PostgreSQL), pruning."""
import threading
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.db import connection

from integrations import services
from integrations.models import RateLimitCounter
from integrations.ratelimit import rate_limit_hit
from tests.fixtures.threads import start_in_thread

# 1_000_000_020 is a multiple of 60: a window starts there.
WINDOW_START = datetime.fromtimestamp(1_000_000_020, tz=dt_timezone.utc)


@pytest.mark.django_db
def test_counts_within_a_window_and_refuses_past_the_limit():
    # given / when
    verdicts = [rate_limit_hit(scope="s", key="k", limit=2, window_seconds=60, now=WINDOW_START + timedelta(seconds=15))
                for _ in range(3)]
    # then
    assert [(v.allowed, v.count, v.retry_after) for v in verdicts] == [(True, 1, 0), (True, 2, 0), (False, 3, 45)]
    row = RateLimitCounter.objects.get()
    assert (row.scope, row.key, row.window_start, row.count) == ("s", "k", WINDOW_START, 3)


@pytest.mark.django_db
def test_next_window_starts_again_and_keys_and_scopes_are_separate():
    # given: the limit used up in one window
    for _ in range(2):
        rate_limit_hit(scope="s", key="k", limit=1, window_seconds=60, now=WINDOW_START + timedelta(seconds=59))
    # when / then
    assert rate_limit_hit(scope="s", key="k", limit=1, window_seconds=60, now=WINDOW_START + timedelta(seconds=60)).allowed
    assert rate_limit_hit(scope="s", key="other", limit=1, window_seconds=60, now=WINDOW_START).allowed
    assert rate_limit_hit(scope="t", key="k", limit=1, window_seconds=60, now=WINDOW_START).allowed
    assert RateLimitCounter.objects.count() == 4


@pytest.mark.django_db
def test_limit_zero_is_off_and_writes_nothing():
    assert rate_limit_hit(scope="s", key="k", limit=0, window_seconds=60).allowed
    assert RateLimitCounter.objects.exists() is False


@pytest.mark.django_db
def test_housekeeping_prunes_counters_older_than_a_day():
    # given
    now = WINDOW_START + timedelta(days=3)
    rate_limit_hit(scope="s", key="old", limit=5, window_seconds=60, now=now - timedelta(days=1, minutes=1))
    rate_limit_hit(scope="s", key="new", limit=5, window_seconds=60, now=now - timedelta(hours=23))
    # when
    result = services.housekeeping_prune(now=now)
    # then
    assert result["rate_limit_counters"] == 1
    assert list(RateLimitCounter.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)")
def test_concurrent_hits_lose_no_count_on_postgresql():
    # given: 8 threads, each with its own connection, 10 hits each on the same counter
    barrier, results = threading.Barrier(8), {}

    def worker():
        barrier.wait(timeout=10)
        return [rate_limit_hit(scope="s", key="k", limit=50, window_seconds=3600, now=WINDOW_START) for _ in range(10)]

    # when
    threads = [start_in_thread(worker, results, i) for i in range(8)]
    for t in threads:
        t.join(timeout=30)
    # then: every hit got its own count, exactly 50 allowed
    verdicts = [v for i in range(8) for v in results[i]]
    assert sorted(v.count for v in verdicts) == list(range(1, 81))
    assert sum(v.allowed for v in verdicts) == 50
    assert RateLimitCounter.objects.get().count == 80
