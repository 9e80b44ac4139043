"""Acumatica in the fault-injection world: the US Wholesale shop's pipeline through Acumatica end to end, the
Acumatica invariants catching what they promise to catch, lost answers repeated, shipments moving while the pulls
page, a crash between pages, an expired access token. (Its wire-fault matrix and two-worker races are in
test_faults.py and test_concurrency.py.)"""
import pytest

from tests.reliability import invariants
from tests.reliability.drivers import _local
from tests.reliability.world import ACU, WHOLESALE


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
