"""One outbound request rate per remote account, shared by every worker process and machine.

A remote's limit ("60 requests per 60 s per account", "10 QPS per shop") is spread evenly: `limit` requests per
`per_seconds` become one slot per `per_seconds / limit` (at least `MIN_SLOT_MS`), counted in a shared store, so
no burst at a window's edge can pass the remote's limit by more than one request. A caller asks for a slot
before each request; when the current slot is taken it sleeps until the next one (the same rule in every
process, so waiting is fair enough and nothing spins). A 429 with Retry-After pauses the key for every process
(`outbound_pause`).

Store: Redis when `REDIS_URL` is set (the production path: INCR + PEXPIRE, no lock held anywhere); otherwise the
database's `RateLimitCounter` rows (`integrations/ratelimit.py`'s atomic upsert). On PostgreSQL without Redis the
counter is written through a connection of its own in autocommit, so a slot never holds a row lock inside the
caller's page transaction; on SQLite (the single-machine default) the caller's connection is used.

Clocks: slots are wall-clock windows, so several machines must keep their clocks in sync (NTP), as for any
distributed rate limit. `settings.OUTBOUND_RATE_LIMITS_ENABLED = False` (the test settings) switches the limiter
off; tests of the limiter switch it on."""
from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timezone as dt_timezone

from django.conf import settings
from django.db import connection, connections

from integrations.exceptions import RateLimitedError
from integrations.models import RateLimitCounter

MIN_SLOT_MS = 20
SCOPE = "outbound"
PAUSE_SCOPE = "outbound_pause"
_PAUSE_WINDOW = datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
_PREFIX = "switchyard:outbound:"
_local = threading.local()
_redis_clients: dict[str, object] = {}
_PAUSE_SCRIPT = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end
return 1
"""

# Injectable for tests.
sleep = time.sleep
wall_ms = lambda: int(time.time() * 1000)  # noqa: E731


def slot_ms(*, limit: int, per_seconds: float) -> int:
    """Length of one slot: the limit spread evenly over its period."""
    return max(MIN_SLOT_MS, math.ceil(per_seconds * 1000 / limit))


def outbound_slot_acquire(*, key: str, limit: int, per_seconds: float, max_wait: float = 60.0) -> float:
    """Block until one more request under `key` fits in `limit` requests per `per_seconds`, counted across every
    process and machine. Returns the seconds waited. Raises RateLimitedError (transient: the run backs off and
    nothing was sent) when the wait would pass `max_wait`. A limit of 0 or less switches the limit off."""
    if limit <= 0 or per_seconds <= 0 or not getattr(settings, "OUTBOUND_RATE_LIMITS_ENABLED", True):
        return 0.0
    store = _store()
    length = slot_ms(limit=limit, per_seconds=per_seconds)
    waited = 0.0
    while True:
        now = wall_ms()
        paused_until = store.paused_until(key)
        if paused_until > now:
            wait = (paused_until - now) / 1000
        else:
            start = now - now % length
            if store.bump(key, start, ttl_ms=length * 4) <= 1:
                return waited
            wait = (start + length - now) / 1000
        if waited + wait > max_wait:
            raise RateLimitedError(f"outbound rate limit for {key}: no request slot within {max_wait:.0f} s",
                                   retry_after=max(wait, 1.0))
        sleep(wait)
        waited += wait


def outbound_pause(*, key: str, seconds: float) -> None:
    """A 429 with Retry-After: every process using `key` waits until then before its next request."""
    if seconds <= 0 or not getattr(settings, "OUTBOUND_RATE_LIMITS_ENABLED", True):
        return
    _store().pause(key, wall_ms() + int(seconds * 1000))


def _store():
    url = getattr(settings, "REDIS_URL", "")
    return _RedisStore(url) if url else _DatabaseStore()


class _RedisStore:
    def __init__(self, url: str):
        client = _redis_clients.get(url)
        if client is None:
            import redis  # the broker's client, installed with django-q2's Redis support

            client = _redis_clients[url] = redis.Redis.from_url(url)
        self.client = client

    def bump(self, key: str, start: int, *, ttl_ms: int) -> int:
        name = f"{_PREFIX}{key}:{start}"
        pipe = self.client.pipeline()
        pipe.incr(name)
        pipe.pexpire(name, ttl_ms)
        count, _ = pipe.execute()
        return int(count)

    def paused_until(self, key: str) -> int:
        value = self.client.get(f"{_PREFIX}pause:{key}")
        return int(value) if value else 0

    def pause(self, key: str, until_ms: int) -> None:
        ttl = max(1, until_ms - wall_ms())
        self.client.eval(_PAUSE_SCRIPT, 1, f"{_PREFIX}pause:{key}", until_ms, ttl)


class _DatabaseStore:
    """RateLimitCounter rows: one per (key, slot start); pauses as one row per key holding the end in ms."""

    def bump(self, key: str, start: int, *, ttl_ms: int) -> int:
        q = self._connection().ops.quote_name
        table = q(RateLimitCounter._meta.db_table)
        scope_c, key_c, start_c, count_c = (q(n) for n in ("scope", "key", "window_start", "count"))
        conn = self._connection()
        window = conn.ops.adapt_datetimefield_value(datetime.fromtimestamp(start / 1000, tz=dt_timezone.utc))
        sql = (f"INSERT INTO {table} ({scope_c}, {key_c}, {start_c}, {count_c}) VALUES (%s, %s, %s, 1) "
               f"ON CONFLICT ({scope_c}, {key_c}, {start_c}) DO UPDATE SET {count_c} = {table}.{count_c} + 1 RETURNING {count_c}")
        with conn.cursor() as cursor:
            cursor.execute(sql, [SCOPE, key[:100], window])
            return int(cursor.fetchone()[0])

    def paused_until(self, key: str) -> int:
        conn = self._connection()
        q = conn.ops.quote_name
        sql = (f"SELECT {q('count')} FROM {q(RateLimitCounter._meta.db_table)} "
               f"WHERE {q('scope')} = %s AND {q('key')} = %s AND {q('window_start')} = %s")
        with conn.cursor() as cursor:
            cursor.execute(sql, [PAUSE_SCOPE, key[:100], conn.ops.adapt_datetimefield_value(_PAUSE_WINDOW)])
            row = cursor.fetchone()
        # Stored in seconds (the column is a 32-bit integer on some databases); compared in ms.
        return int(row[0]) * 1000 if row else 0

    def pause(self, key: str, until_ms: int) -> None:
        conn = self._connection()
        q = conn.ops.quote_name
        table = q(RateLimitCounter._meta.db_table)
        scope_c, key_c, start_c, count_c = (q(n) for n in ("scope", "key", "window_start", "count"))
        until = math.ceil(until_ms / 1000)
        sql = (f"INSERT INTO {table} ({scope_c}, {key_c}, {start_c}, {count_c}) VALUES (%s, %s, %s, %s) "
               f"ON CONFLICT ({scope_c}, {key_c}, {start_c}) DO UPDATE SET {count_c} = "
               f"CASE WHEN {table}.{count_c} > excluded.{count_c} THEN {table}.{count_c} ELSE excluded.{count_c} END")
        with conn.cursor() as cursor:
            cursor.execute(sql, [PAUSE_SCOPE, key[:100], conn.ops.adapt_datetimefield_value(_PAUSE_WINDOW), until])

    @staticmethod
    def _connection():
        if connection.vendor == "sqlite":
            return connection
        own = getattr(_local, "connection", None)
        if own is not None and own.connection is not None and not own.is_usable():
            own.close()
            own = None
        if own is None:
            own = _local.connection = connections.create_connection("default")
        return own
