"""Katana in the fault-injection world: the UK shop's pipeline through Katana end to end, the Katana invariants
catching what they promise to catch, lost answers repeated, rows moving while the Katana pulls page, and a
delivery racing the hub's cancellation. (The wire-fault matrix of Katana's flows is in test_faults.py.)"""
import pytest

from integrations.connectors.katana import client as katana_client
from integrations.models import SyncRun
from tests.reliability import invariants
from tests.reliability.drivers import _katana_routed, _katana_sent, _local
from tests.reliability.remote import Fault
from tests.reliability.world import KATANA, UK

SALES_ORDERS = r"/katana/sandbox/v1/sales_orders$"


def _sales_orders(world, **filters):
    from integrations.connectors.katana.models import EmuObject

    return list(EmuObject.objects.filter(account=world.katana_account, kind="sales_order", **filters).order_by("pk"))


def _katana_level(world, sku):
    from inventory.models import InventoryLevel

    return InventoryLevel.objects.get(location__integration=world.katana_integration, product__sku=sku)


@pytest.mark.reliability("katana")
def test_uk_order_through_katana_to_tiktok_and_stock_back(world):
    from orders.models import ShippingRequest

    remote = _katana_routed(world)
    world.settle()
    sr = ShippingRequest.objects.get(order=_local(remote))
    [so] = _sales_orders(world)
    assert sr.integration == world.katana_integration and sr.external_id == str(so.data["id"])
    assert so.data["customer_ref"] == sr.reference and so.data["status"] == "DELIVERED" and not so.deleted
    [fulfillment] = _local(remote).fulfillments.all()
    assert fulfillment.integration == world.katana_integration and fulfillment.tracking_numbers
    assert sorted(fulfillment.lines.values_list("quantity", flat=True)) == [1, 2]
    remote.refresh_from_db()
    assert remote.data["tracking_number"] == fulfillment.tracking_numbers[0]  # pushed to TikTok UK
    tee = _katana_level(world, "TEE-BLK-M")
    assert (tee.on_hand, tee.fulfillable, tee.committed, tee.available) == (198, 198, 0, 198)
    invariants.assert_invariants(world)


@pytest.mark.reliability("katana")
def test_katana_invariants_catch_a_duplicate_sales_order_and_a_lost_delivery(world):
    from integrations.connectors.katana.models import EmuObject
    from orders.models import Fulfillment

    _katana_routed(world)
    world.settle()
    assert invariants.katana_records_once(world) == []
    [so] = _sales_orders(world)
    twin = dict(so.data, id=so.data["id"] + 1000)
    EmuObject.objects.create(account=so.account, kind="sales_order", key=str(twin["id"]), data=twin)
    Fulfillment.objects.filter(integration=world.katana_integration).delete()
    found = invariants.katana_records_once(world)
    assert f"shipping request {so.data['customer_ref']} is 2 live Katana sales orders" in found
    assert any(v.startswith("Katana delivery ") and v.endswith("recorded 0 times locally") for v in found), found


@pytest.mark.reliability("katana")
def test_katana_stock_invariant_catches_a_figure_the_hub_missed(world):
    from integrations.connectors import katana
    from integrations.connectors.katana import emulator

    world.enable_katana()
    world.settle()
    assert invariants.katana_stock_matches(world) == []
    emulator.emulator_set_stock(account=world.katana_account, sku="CAP-RED", location_id=1, in_stock=7)
    assert invariants.katana_stock_matches(world) == [
        "CAP-RED@" + _katana_level(world, "CAP-RED").location.code
        + ": Katana says in stock 7 / fulfillable 7, hub has on hand 200 / fulfillable 200"]
    assert katana  # the connector package is importable from the suite (registry)


@pytest.mark.reliability("katana")
def test_create_answer_lost_twice_is_still_one_sales_order(world):
    _katana_routed(world)
    world.remote.inject(Fault("timeout_after", method="POST", path=SALES_ORDERS, times=2))
    first = world.run(KATANA, "push_orders")
    second = world.run(KATANA, "push_orders")
    assert not invariants.fault_recorded(first) and len(world.remote.writes(SALES_ORDERS)) == 1, world.remote.calls
    assert second.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL)  # found the first create: no POST
    world.remote.clear()
    world.settle()
    assert len(_sales_orders(world)) == 1
    invariants.assert_invariants(world)


@pytest.fixture
def katana_small_pages(monkeypatch):
    """Katana list pages of 2 rows: five sales orders span three pages."""
    monkeypatch.setattr(katana_client, "PAGE_LIMIT", 2)


def _five_sent(world):
    world.enable_katana()
    placed = [world.place_uk_order(("TEE-BLK-M", 1)) for _ in range(5)]
    world.run(UK, "pull_orders")
    world.release_holds()
    world.run(KATANA, "push_orders")
    assert len(_sales_orders(world)) == 5
    return placed


@pytest.mark.reliability("katana")
def test_sales_order_delivered_while_fulfillments_page_loses_nothing(world, katana_small_pages):
    from integrations.connectors.katana import emulator

    _five_sent(world)
    world.run(KATANA, "pull_fulfillments")  # the cursor is set before the deliveries
    world.clock.tick(5)
    first, *rest = _sales_orders(world)
    for so in rest:
        emulator.emulator_deliver(account=world.katana_account, sales_order_id=so.data["id"])
    # Between page 1 and page 2 the first sales order is delivered: it moves to the end of the window.
    world.remote.inject(Fault("hook", method="GET", path=SALES_ORDERS, skip=1, hook=lambda: emulator.emulator_deliver(
        account=world.katana_account, sales_order_id=first.data["id"])))
    run = world.run(KATANA, "pull_fulfillments")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    world.remote.clear()
    world.settle()
    invariants.assert_invariants(world)


@pytest.mark.reliability("katana")
def test_stock_moving_while_inventory_pages_settles_on_katanas_figures(world, katana_small_pages):
    from integrations.connectors.katana import emulator

    world.enable_katana()
    world.settle()
    world.remote.inject(Fault("hook", method="GET", path=r"/katana/sandbox/v1/inventory$", skip=1, hook=lambda: (
        emulator.emulator_set_stock(account=world.katana_account, sku="TEE-BLK-M", location_id=1, in_stock=3))))
    run = world.run(KATANA, "pull_inventory")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    world.remote.clear()
    world.settle()
    assert _katana_level(world, "TEE-BLK-M").fulfillable == 3
    invariants.assert_invariants(world)


@pytest.mark.reliability("katana")
def test_delivery_racing_the_hub_cancellation_is_recorded_too_late(world):
    """Katana delivers between the cancel flow's read (NOT_SHIPPED) and its DELETE: the delivery happened, so the
    hub must end up with the fulfillment recorded and the cancellation marked too late, never 'cancelled' alone."""
    from integrations.connectors.katana.models import EmuObject
    from orders.services import order_cancel

    remote = _katana_sent(world)
    order_cancel(order=_local(remote), reason="customer asked by phone")
    world.remote.inject(Fault("hook", method="DELETE", path=r"/sales_orders/\d+$", hook=world.katana_ships))
    world.run(KATANA, "cancel_orders")
    world.remote.clear()
    world.settle()
    assert EmuObject.objects.filter(kind="fulfillment").count() == 1
    invariants.assert_invariants(world)
