"""Acumatica in the fault-injection world: the US Wholesale shop's pipeline through Acumatica end to end, the
Acumatica invariants catching what they promise to catch, lost answers repeated, shipments moving while the pulls
page, a crash between pages, an expired access token. (Its wire-fault matrix and two-worker races are in
test_faults.py and test_concurrency.py.)"""
import pytest

from tests.reliability import invariants
from tests.reliability.drivers import DRIVERS, _local
from tests.reliability.world import ACU, WHOLESALE

SALES_ORDER = r"/entity/Default/23.200.001/SalesOrder$"


def _sales_orders(world, **filters):
    from integrations.connectors.acumatica.models import EmuRecord

    return list(EmuRecord.objects.filter(instance=world.acu_instance, entity="SalesOrder", **filters).order_by("pk"))


@pytest.mark.reliability("acumatica")
def test_wholesale_order_through_acumatica_to_tiktok_and_stock_back(world):
    from orders.models import ShippingRequest

    world.enable_acumatica()
    remote = world.place_wholesale_order(("TEE-BLK-M", 2), ("CAP-RED", 1))
    world.settle()
    sr = ShippingRequest.objects.get(order=_local(remote))
    [so] = _sales_orders(world)
    assert sr.integration == world.acu_integration and sr.external_id == f"SO/{so.data['OrderNbr']}"
    assert so.data["ExternalRef"] == sr.reference and so.data["Status"] == "Completed"
    [fulfillment] = _local(remote).fulfillments.all()
    assert fulfillment.integration == world.acu_integration and fulfillment.tracking_numbers
    remote.refresh_from_db()
    assert remote.data["tracking_number"] == fulfillment.tracking_numbers[0]
    invariants.assert_invariants(world)


@pytest.mark.reliability("acumatica")
def test_acumatica_invariants_catch_a_duplicate_sales_order_and_a_lost_shipment(world):
    from integrations.connectors.acumatica.models import EmuRecord
    from orders.models import Fulfillment

    world.enable_acumatica()
    world.place_wholesale_order(("CAP-RED", 1))
    world.settle()
    assert invariants.acumatica_records_once(world) == []
    [so] = _sales_orders(world)
    twin = dict(so.data, OrderNbr="999999")
    EmuRecord.objects.create(instance=so.instance, entity="SalesOrder", key=f"SO/{twin['OrderNbr']}", guid="twin", data=twin)
    Fulfillment.objects.filter(integration=world.acu_integration).delete()
    found = invariants.acumatica_records_once(world)
    assert f"shipping request {so.data['ExternalRef']} is 2 Acumatica sales orders" in found
    [shipment] = EmuRecord.objects.filter(instance=so.instance, entity="Shipment")
    assert f"Acumatica shipment {shipment.data['ShipmentNbr']}:SO/{so.data['OrderNbr']} recorded 0 times locally" in found


@pytest.mark.reliability("acumatica")
def test_create_answer_lost_twice_is_still_one_sales_order(world):
    from integrations.models import SyncRun
    from tests.reliability.drivers import _acu_routed
    from tests.reliability.remote import Fault

    _acu_routed(world)
    world.remote.inject(Fault("timeout_after", method="PUT", path=SALES_ORDER, times=2))
    first = world.run(ACU, "push_orders")
    second = world.run(ACU, "push_orders")
    assert not invariants.fault_recorded(first)
    assert len(world.remote.writes(SALES_ORDER)) == 1, world.remote.calls  # the second run found it: no PUT
    assert second.status == SyncRun.Status.SUCCEEDED, second.error_message
    world.remote.clear()
    world.settle()
    assert len(_sales_orders(world)) == 1
    invariants.assert_invariants(world)


@pytest.fixture
def acu_small_pages(monkeypatch):
    """Acumatica list pages of 2 rows ($top=2): five shipments span three pages."""
    from integrations.connectors.acumatica.client import AcumaticaClient

    original = AcumaticaClient.keyset_pages
    monkeypatch.setattr(AcumaticaClient, "keyset_pages",
                        lambda self, entity, **kwargs: original(self, entity, **{**kwargs, "page_size": 2}))


def _five_shipped_unconfirmed(world):
    """Five Wholesale orders, five sales orders, a first pull_fulfillments (its cursor), then Acumatica creates a
    shipment for each, not yet confirmed."""
    from integrations.connectors.acumatica import emulator

    world.enable_acumatica()
    for _ in range(5):
        world.place_wholesale_order(("TEE-BLK-M", 1))
    world.run(WHOLESALE, "pull_orders")
    world.release_holds()
    world.run(ACU, "push_orders")
    world.run(ACU, "pull_fulfillments")
    world.clock.tick(5)
    for so in _sales_orders(world):
        emulator.emulator_ship(instance=world.acu_instance, order_nbr=so.data["OrderNbr"], confirm=False)
    assert len(_sales_orders(world)) == 5


def _confirm_all(world):
    from integrations.connectors.acumatica import emulator
    from integrations.connectors.acumatica.models import EmuRecord

    world.clock.tick(1)
    for shipment in EmuRecord.objects.filter(instance=world.acu_instance, entity="Shipment", data__Status="Open"):
        emulator._confirm(world.acu_instance, shipment)


SHIPMENTS = r"/entity/Default/23.200.001/Shipment$"


@pytest.mark.reliability("paging")
def test_acumatica_shipments_confirmed_while_fulfillments_page_lose_nothing(world, acu_small_pages):
    """Between page 1 and page 2 every shipment is confirmed: page 1's were read open (nothing to record), and all of
    them have now moved past the run's window (LastModified after its end); the next runs must record all five."""
    from integrations.models import SyncRun
    from orders.models import Fulfillment
    from tests.reliability.remote import Fault

    _five_shipped_unconfirmed(world)
    world.remote.inject(Fault("hook", method="GET", path=SHIPMENTS, skip=1, hook=lambda: _confirm_all(world)))
    run = world.run(ACU, "pull_fulfillments")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    assert run.created == 0  # page 1 read open; the rest left the window (keyset + LastModified le the window's end)
    world.remote.clear()
    world.settle()
    assert Fulfillment.objects.filter(integration=world.acu_integration).count() == 5
    invariants.assert_invariants(world)


@pytest.mark.reliability("paging")
def test_acumatica_item_changed_while_products_page_is_pulled(world, acu_small_pages):
    """A stock item renamed in Acumatica between page 1 and page 2 of pull_products (keyset on InventoryID): the
    rename is taken by the next run, no other item is skipped."""
    from catalog.models import Product
    from integrations.connectors.acumatica import emulator
    from integrations.connectors.acumatica.models import EmuRecord
    from integrations.models import SyncRun
    from tests.reliability.remote import Fault

    world.enable_acumatica()
    world.run(ACU, "pull_products")
    world.clock.tick(5)
    items = list(EmuRecord.objects.filter(instance=world.acu_instance, entity="StockItem").order_by("key"))
    for item in items:  # every item changed since the cursor: the next pull reads them all, two a page
        emulator._put(world.acu_instance, "StockItem", {"Description": f"{item.key} v2"}, key=item.key)

    def rename_first():
        world.clock.tick(1)
        emulator._put(world.acu_instance, "StockItem", {"Description": "renamed while paging"}, key=items[0].key)

    world.remote.inject(Fault("hook", method="GET", path=r"/StockItem$", skip=1, hook=rename_first))
    run = world.run(ACU, "pull_products")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error_message
    world.remote.clear()
    world.settle()
    names = dict(Product.objects.filter(sku__in=[i.key for i in items]).values_list("sku", "name"))
    assert names == {i.key: ("renamed while paging" if i is items[0] else f"{i.key} v2") for i in items}
    invariants.assert_invariants(world)


@pytest.mark.reliability("killed_worker")
def test_acumatica_worker_killed_between_pages_fails_the_run_and_loses_nothing(world, acu_small_pages):
    """A crash on page 2 of pull_fulfillments: the run is failed, its lease released, page 1 kept, the cursor not
    moved past the rest; the next runs record every shipment once."""
    from orders.models import Fulfillment
    from tests.reliability.remote import Fault
    from tests.reliability.test_paging import WorkerKilled, _kill

    _five_shipped_unconfirmed(world)
    _confirm_all(world)
    before = world.state(ACU, "pull_fulfillments").cursor
    world.remote.inject(Fault("hook", method="GET", path=SHIPMENTS, skip=1, hook=_kill))
    try:
        world.run(ACU, "pull_fulfillments")
    except WorkerKilled:
        pass
    from integrations.models import SyncRun

    run = SyncRun.objects.filter(flow="pull_fulfillments", integration=world.acu_integration).latest("pk")
    assert invariants.fault_recorded(run) == []
    state = world.state(ACU, "pull_fulfillments")
    assert (state.lease_token, state.cursor) == ("", before)
    assert Fulfillment.objects.filter(integration=world.acu_integration).count() == 2  # page 1 committed
    world.remote.clear()
    world.settle()
    assert Fulfillment.objects.filter(integration=world.acu_integration).count() == 5
    invariants.assert_invariants(world)


ACU_DRIVEN = sorted(k for k in DRIVERS if k[0] == "acumatica")


@pytest.mark.reliability("expired_token")
@pytest.mark.parametrize("connector,flow", ACU_DRIVEN, ids=[f"{c}.{f}" for c, f in ACU_DRIVEN])
def test_acumatica_access_token_expired_early_is_refreshed_and_the_run_completes(world, connector, flow):
    """Acumatica refuses the access token before the hub expected it (401): the client refreshes once (the
    emulator rotates the refresh token) and repeats the call; the run completes, the integration stays connected."""
    from django.utils import timezone

    from integrations.connectors.acumatica.models import EmuGrant
    from integrations.models import Integration, SyncRun

    DRIVERS[(connector, flow)].prepare(world)
    refresh_before = world.acu_integration.get_credentials()["refresh_token"]
    EmuGrant.objects.filter(instance=world.acu_instance, kind="access").update(
        expires_at=timezone.now() - timezone.timedelta(seconds=1))
    run = world.run_connector_flow(connector, flow)
    assert run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.PARTIAL), (run.status, run.error_message)
    assert len([c for c in world.remote.calls if c.method == "POST" and c.path.endswith("/identity/connect/token")]) == 1
    integration = Integration.objects.get(pk=world.acu_integration.pk)
    assert integration.status == Integration.Status.CONNECTED
    assert integration.get_credentials()["refresh_token"] != refresh_before  # rotated and stored
    world.settle()
    invariants.assert_invariants(world)
