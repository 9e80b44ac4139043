"""The TikTok emulator's rate limiter under real concurrency (PostgreSQL): one upsert per request, so
workers counting the same shop-second never hit the unique key (uniq_emu_rate_window) and no request is
lost from the count."""
import threading

import pytest
from django.db import IntegrityError, connection, connections

from integrations.sandbox import services
from integrations.sandbox.models import EmuRateWindow

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]

WORKERS, SECONDS = 4, 15


def test_concurrent_requests_in_one_second_are_all_counted_without_duplicate_key_errors(emu_shop):
    # given: a roomy limit; four workers hit the same fresh second at once, fifteen seconds in a row
    emu_shop.qps = 10_000
    emu_shop.save(update_fields=["qps"])
    barrier = threading.Barrier(WORKERS)
    failed_statements: list[str] = []
    errors: list[Exception] = []

    def record_failures(execute, sql, params, many, context):
        try:
            return execute(sql, params, many, context)
        except IntegrityError:
            failed_statements.append(sql)
            raise

    def worker():
        try:
            with connection.execute_wrapper(record_failures):
                for second in range(1_900_000_000, 1_900_000_000 + SECONDS):
                    barrier.wait(timeout=20)
                    services.rate_limit_hit(shop=emu_shop, second=second)
        except Exception as exc:  # surfaced by the assertions
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(WORKERS)]
    # when
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    # then: no statement failed on the unique key, and every request was counted once
    assert errors == [] and failed_statements == []
    counts = dict(EmuRateWindow.objects.filter(shop=emu_shop).values_list("second", "count"))
    assert counts == {second: WORKERS for second in range(1_900_000_000, 1_900_000_000 + SECONDS)}


def test_the_request_over_the_limit_gets_429_and_is_still_counted(emu_shop):
    emu_shop.qps = 2
    emu_shop.save(update_fields=["qps"])
    services.rate_limit_hit(shop=emu_shop, second=1_900_000_100)
    services.rate_limit_hit(shop=emu_shop, second=1_900_000_100)
    with pytest.raises(services.EmuError) as over:
        services.rate_limit_hit(shop=emu_shop, second=1_900_000_100)
    assert (over.value.code, over.value.status) == (36009002, 429)
    assert EmuRateWindow.objects.get(shop=emu_shop, second=1_900_000_100).count == 3
