"""Real concurrency on PostgreSQL: stock writers racing (#10 defect 8: lost update; #18 item 2: deadlocks between
routing, which commits stock, and a remote inventory pull, which sets levels in bulk)."""
import threading
import time

import pytest
from django.db import connection

from inventory import services
from inventory.models import InventoryLevel
from orders import services as order_services
from orders.models import Order
from tests.orders import factories as f
from tests.fixtures.threads import start_in_thread

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]


def _blocked_on_a_lock_or_done(done: threading.Event) -> None:
    """Wait until the other transaction finished or waits for a row lock (no fixed sleep decides the outcome)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if done.is_set():
            return
        with connection.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            if cur.fetchone()[0]:
                return
        time.sleep(0.02)
    raise AssertionError("the other transaction neither finished nor waited for a lock")


def _pause_first_call(monkeypatch, module, name: str, *, before: bool):
    """Patch module.name so that its first call (in whichever thread) signals `paused` and waits for `go`."""
    paused, go, real, calls = threading.Event(), threading.Event(), getattr(module, name), []

    def wrapper(*args, **kwargs):
        first = not calls
        calls.append(1)
        if first and before:
            paused.set()
            assert go.wait(timeout=20)
        out = real(*args, **kwargs)
        if first and not before:
            paused.set()
            assert go.wait(timeout=20)
        return out

    monkeypatch.setattr(module, name, wrapper)
    return paused, go


def test_levels_set_does_not_overwrite_a_commitment_made_meanwhile(wh, sku_a, monkeypatch):
    # given: 10 on hand
    services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 10}}, reason="count")
    # the remote's pull (12 on hand) pauses between reading the level and writing it
    paused, go = _pause_first_call(monkeypatch, services, "_ledger", before=True)
    results, committed = {}, threading.Event()
    pull = start_in_thread(lambda: services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 12}}, reason="pull"),
                      results, "pull")
    assert paused.wait(timeout=20)

    # when: routing commits 3 units meanwhile
    def commit():
        try:
            return services.inventory_commit(location=wh, product=sku_a, quantity=3, reference="SY-1-1")
        finally:
            committed.set()

    routing = start_in_thread(commit, results, "commit")
    _blocked_on_a_lock_or_done(committed)
    go.set()
    pull.join(timeout=20), routing.join(timeout=20)
    # then: on hand 12, committed 3, available 9 (not 12)
    assert not isinstance(results["pull"], Exception) and not isinstance(results["commit"], Exception), results
    level = InventoryLevel.objects.get(location=wh, product=sku_a)
    assert (level.on_hand, level.committed, level.available) == (12, 3, 9)


def test_routing_and_inventory_pull_do_not_deadlock(shop, wh, sku_a, sku_b, monkeypatch):
    # given: levels A then B (ids ascending), stocked; an order of B then A, ready but not routed yet
    services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 10}}, reason="count")
    services.inventory_levels_set(location=wh, quantities={"B": {"on_hand": 10}}, reason="count")
    order_services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("B", 1), ("A", 1)))])
    order = Order.objects.get(external_id="O-1")
    assert not order.shipping_requests.exists()  # no routing rule yet
    f.rule("r", [wh])
    # routing pauses after its first stock commitment (it holds that level's lock)
    paused, go = _pause_first_call(monkeypatch, services, "inventory_commit", before=False)
    results, pulled = {}, threading.Event()
    routing = start_in_thread(lambda: order_services.order_route(order=order), results, "route")
    assert paused.wait(timeout=20)

    # when: the inventory pull writes both levels meanwhile
    def pull():
        try:
            return services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 9}, "B": {"on_hand": 9}},
                                                 reason="pull")
        finally:
            pulled.set()

    puller = start_in_thread(pull, results, "pull")
    _blocked_on_a_lock_or_done(pulled)
    go.set()
    routing.join(timeout=30), puller.join(timeout=30)
    # then: both finished, nothing lost
    assert not isinstance(results["route"], Exception) and not isinstance(results["pull"], Exception), results
    levels = {lv.product.sku: (lv.on_hand, lv.committed, lv.available) for lv in InventoryLevel.objects.select_related("product")}
    assert levels == {"A": (9, 1, 8), "B": (9, 1, 8)}
    assert order.shipping_requests.count() == 1


def test_with_deadlock_retry_runs_a_deadlocked_transaction_again(wh, sku_a, sku_b):
    # given: a transaction PostgreSQL picks as deadlock victim on its first attempt
    from django.db import OperationalError

    attempts = []

    class Deadlock(Exception):
        sqlstate = "40P01"

    def work():
        attempts.append(1)
        services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": len(attempts)}}, reason="count")
        if len(attempts) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return "done"

    # when
    assert services.with_deadlock_retry(work) == "done"
    # then: the first attempt was rolled back, the second committed
    assert len(attempts) == 2 and InventoryLevel.objects.get(product=sku_a).on_hand == 2


def test_a_scheduled_pass_cut_short_by_a_deadlock_runs_again(monkeypatch):
    # given: the hold-release pass dies on a deadlock the first time (outside any transaction, as a task runs)
    from django.db import OperationalError

    from orders import tasks

    class Deadlock(Exception):
        sqlstate = "40P01"

    calls = []

    def release_due():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("deadlock detected") from Deadlock()
        return 7

    monkeypatch.setattr(order_services, "orders_release_due", release_due)
    # when
    released = tasks.orders_release_due_task()
    # then: run again instead of failing the task
    assert (released, len(calls)) == (7, 2)
