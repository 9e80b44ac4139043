"""Rows moving while a pull pages, and a worker killed between pages (simulated by raising in the middle)."""
import pytest

from integrations.connectors.tiktok.client import TikTokClient
from integrations.models import FlowState, SyncRun
from tests.reliability import invariants
from tests.reliability.remote import Fault
from tests.reliability.world import OSA, US

SEARCH = r"/orders/search$"


@pytest.fixture
def small_pages(monkeypatch):
    """TikTok order search pages of 2, so five orders span three pages."""
    monkeypatch.setitem(TikTokClient.orders_search.__kwdefaults__, "page_size", 2)


def _old_orders(world, n=5, hours_ago=3):
    """n paid orders placed hours ago (older than any overlap window), one minute apart."""
    from integrations.sandbox import services as emu

    placed = []
    base = emu.now_ts() - hours_ago * 3600
    for i in range(n):
        order = emu.order_create(shop=world.shop, items=[(world.sku("TEE-BLK-M"), 1)], at=base + 60 * i)
        placed.append(order)
    emu.shop_advance(shop=world.shop, until=base + 60 * n)
    for order in placed:
        order.refresh_from_db()
    return placed


def _first_pull(world):
    """The poll has run once already (its cursor is set), before the scenario's orders exist."""
    from integrations.sandbox import services as emu

    state = world.state(US, "pull_orders")
    FlowState.objects.filter(pk=state.pk).update(cursor={"updated_since": emu.now_ts() - 4 * 3600})


def _edit(order):
    from integrations.sandbox import services as emu

    order.refresh_from_db()
    emu._apply_event(order, "edit", emu.now_ts())
    order.save()


@pytest.mark.reliability("paging")
def test_record_updated_while_paging_loses_nothing(world, small_pages):
    _first_pull(world)
    orders = _old_orders(world)
    # Between page 1 and page 2 the buyer edits the first order: it moves to the end of the window.
    world.remote.inject(Fault("hook", method="POST", path=SEARCH, skip=1, hook=lambda: _edit(orders[0])))
    run = world.run(US, "pull_orders")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    world.remote.clear()
    world.settle()
    invariants.assert_invariants(world)


@pytest.mark.reliability("paging")
def test_record_inserted_while_paging_loses_nothing(world, small_pages):
    _first_pull(world)
    _old_orders(world)
    world.remote.inject(Fault("hook", method="POST", path=SEARCH, skip=1,
                              hook=lambda: world.place_order(("CAP-RED", 1))))
    run = world.run(US, "pull_orders")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    world.remote.clear()
    world.settle()
    invariants.assert_invariants(world)


class WorkerKilled(Exception):
    """Not one of the engine's error classes: what a crash in the middle of a run looks like to it."""


def _kill():
    raise WorkerKilled("worker killed between pages")


def _run_killed(world):
    """Run pull_orders with a crash on its second page; the crash may propagate (a real worker dies) or be
    caught by the engine. Returns the run record."""
    try:
        world.run(US, "pull_orders")
    except WorkerKilled:
        pass
    return SyncRun.objects.filter(flow="pull_orders").latest("pk")


@pytest.mark.reliability("killed_worker")
def test_worker_killed_between_pages_fails_the_run(world, small_pages):
    """#10 defect 5 (fixed on main): a crash mid-run is a failed run, logged, its lease released."""
    _first_pull(world)
    _old_orders(world)
    world.remote.inject(Fault("hook", method="POST", path=SEARCH, skip=1, hook=_kill))
    run = _run_killed(world)
    assert invariants.fault_recorded(run) == []
    assert world.state(US, "pull_orders").lease_token == ""
    world.remote.clear()
    world.settle()
    invariants.assert_invariants(world)


@pytest.mark.reliability("killed_worker")
def test_worker_killed_between_pages_keeps_the_committed_page(world, small_pages):
    """What a crash must never do: lose the first page's committed orders or move the cursor past the rest."""
    from orders.models import Order

    _first_pull(world)
    _old_orders(world)
    before = world.state(US, "pull_orders").cursor
    world.remote.inject(Fault("hook", method="POST", path=SEARCH, skip=1, hook=_kill))
    _run_killed(world)
    assert Order.objects.filter(integration=world.us).count() == 2  # page 1 committed with its cursor
    assert world.state(US, "pull_orders").cursor != before
    world.remote.clear()
    world.settle()
    assert Order.objects.filter(integration=world.us).count() == 5
    invariants.assert_invariants(world)


@pytest.mark.reliability("paging")
@pytest.mark.parametrize("change", ["updated", "inserted"])
def test_osa_shipment_moving_while_paging_loses_nothing(world, monkeypatch, change):
    """OSA pages by page number: a shipment updated (tracking corrected) or a new one shipped between page 1 and
    page 2 must not make another shipment vanish."""
    from integrations.connectors.osa import adapter
    from integrations.connectors.osa.models import EmuShipment

    monkeypatch.setattr(adapter, "PER_PAGE", 1)
    for _ in range(3):
        world.place_order(("CAP-RED", 1))
    world.run(US, "pull_orders")
    world.release_holds()
    world.run(OSA, "push_shipping_requests")
    world.clock.tick(1)

    def move():
        world.clock.tick(1)
        if change == "updated":
            first = EmuShipment.objects.filter(account=world.account).order_by("updated_at", "pk").first()
            EmuShipment.objects.filter(pk=first.pk).update(tracking_number=first.tracking_number + "X",
                                                           updated_at=world.clock.now())
        else:
            world.place_order(("TEE-BLK-L", 1))
            world.run(US, "pull_orders")
            world.release_holds()
            world.run(OSA, "push_shipping_requests")

    fault = world.remote.inject(Fault("hook", method="GET", path=r"/shipments$", skip=1, hook=move))
    run = world.run(OSA, "pull_fulfillments")
    assert fault.fired == 1 and run.status == SyncRun.Status.SUCCEEDED, run.error_message
    world.remote.clear()
    world.settle()
    invariants.assert_invariants(world)
