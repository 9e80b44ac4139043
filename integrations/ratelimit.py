"""Fixed-window request counters in the database, shared by every web process and machine.

One row per (scope, key, window start); a request bumps its row with one atomic upsert
(`INSERT … ON CONFLICT DO UPDATE SET count = count + 1 RETURNING count`, PostgreSQL and SQLite ≥ 3.35),
so concurrent requests never lose a count and no check-then-act race lets a burst through.
One query per counted request; rows of past windows are deleted by the daily housekeeping
(`services.housekeeping_prune`)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.db import connection
from django.utils import timezone

from integrations.models import RateLimitCounter

# Longest key stored: an IPv6 address is ≤ 45 characters, a TikTok shop id ≤ 64 (WebhookEvent.shop_id).
MAX_KEY_LENGTH = 100
# Daily housekeeping keeps one day of counters (windows are minutes long; a day is plenty for a look at a flood).
RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class RateLimitVerdict:
    allowed: bool
    count: int
    retry_after: int  # seconds until the window resets (0 when allowed)


def rate_limit_hit(*, scope: str, key: str, limit: int, window_seconds: int, now: datetime | None = None) -> RateLimitVerdict:
    """Count one request of `key` in the current window of `scope`; refused once the count passes `limit`.
    A limit of 0 (or less) switches the limit off and writes nothing."""
    if limit <= 0 or window_seconds <= 0:
        return RateLimitVerdict(True, 0, 0)
    now = now or timezone.now()
    epoch = int(now.timestamp())
    start = epoch - epoch % window_seconds
    window_start = datetime.fromtimestamp(start, tz=dt_timezone.utc)
    key = key[:MAX_KEY_LENGTH]
    count = _bump(scope=scope, key=key, window_start=window_start)
    if count <= limit:
        return RateLimitVerdict(True, count, 0)
    return RateLimitVerdict(False, count, max(1, math.ceil(start + window_seconds - now.timestamp())))


def _bump(*, scope: str, key: str, window_start: datetime) -> int:
    q = connection.ops.quote_name
    table, scope_c, key_c, start_c, count_c = (q(n) for n in (RateLimitCounter._meta.db_table, "scope", "key", "window_start", "count"))
    value = connection.ops.adapt_datetimefield_value(window_start)
    sql = (f"INSERT INTO {table} ({scope_c}, {key_c}, {start_c}, {count_c}) VALUES (%s, %s, %s, 1) "
           f"ON CONFLICT ({scope_c}, {key_c}, {start_c}) DO UPDATE SET {count_c} = {table}.{count_c} + 1 RETURNING {count_c}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [scope, key, value])
        return int(cursor.fetchone()[0])


def rate_limit_counters_prune(*, now: datetime | None = None) -> int:
    """Delete counters of windows older than RETENTION."""
    deleted, _ = RateLimitCounter.objects.filter(window_start__lt=(now or timezone.now()) - RETENTION).delete()
    return deleted
