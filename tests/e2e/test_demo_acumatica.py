"""The Acumatica part of the demo, headless over real HTTP: an order of the third TikTok shop (US Wholesale) is
routed to Acumatica; the missing Ship Via mapping shows as one cause; adding it and pressing Re-drive sends it as an
Acumatica sales order; Acumatica ships it; the shipment shows on the shipping request, becomes a fulfillment and its
tracking reaches the emulated TikTok shop."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import Mapping, OpsException
from integrations.sandbox import services as emu
from integrations.sandbox.models import EmuOrder, EmuShop, EmuSku
from tests.e2e.test_demo_end_to_end import _run, demo  # noqa: F401 - the demo fixture

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
SHOP, CHANNEL, ACU = "Sandbox Shop US Wholesale", "TikTok US Wholesale", "Acumatica (sandbox)"


def test_wholesale_order_goes_through_acumatica(demo):  # noqa: F811
    from integrations.connectors.acumatica import emulator as acu_emulator
    from integrations.connectors.acumatica.flows.base import AcumaticaFlow
    from integrations.connectors.acumatica.models import EmuInstance, EmuRecord
    from orders.models import HoldRule, Order, ShippingRequest
    from orders.services import exceptions_redrive, orders_release_due

    AcumaticaFlow.window_lag = timedelta(0)  # the emulator stamps with this very clock
    try:
        shop = EmuShop.objects.get(name=SHOP)
        tee = EmuSku.objects.get(product__shop=shop, seller_sku="TEE-BLK-M")
        HoldRule.objects.update(minutes=5)
        remote = emu.order_create(shop=shop, items=[(tee, 2)], at=emu.now_ts() - 120)
        _run(CHANNEL, "pull_locations")
        _run(CHANNEL, "pull_orders")
        order = Order.objects.get(external_id=remote.order_id)
        orders_release_due(now=timezone.now() + timedelta(minutes=4))
        request = ShippingRequest.objects.get(order=order)
        assert request.integration.name == ACU
        # no Ship Via mapping for TikTok's "Standard shipping": held before any call, one cause
        _run(ACU, "push_orders")
        blocked = OpsException.objects.filter(status="open", code="acumatica_unmapped_ship_via")
        assert blocked.count() == 1 and "“Standard shipping” has no Ship Via mapping" in blocked.get().message
        assert not EmuRecord.objects.filter(entity="SalesOrder").exists()
        Mapping.objects.create(integration=request.integration, kind="shipping_method", source="Standard shipping",
                               target="UPSGROUND")
        exceptions_redrive(exceptions=list(blocked))
        _run(ACU, "push_orders")
        request.refresh_from_db()
        sales_order = EmuRecord.objects.get(entity="SalesOrder")
        assert request.external_id == f"SO/{sales_order.data['OrderNbr']}"
        assert sales_order.data["CustomerOrder"] == remote.order_id and sales_order.data["ShipVia"] == "UPSGROUND"
        assert OpsException.objects.filter(status="open", code="acumatica_unmapped_ship_via").count() == 0
        # Acumatica ships it
        instance = EmuInstance.objects.get(name="sandbox-demo")
        acu_emulator.emulator_ship(instance=instance, order_nbr=sales_order.data["OrderNbr"], tracking="1ZDEMO0000001")
        _run(ACU, "pull_shipping_requests")
        request.refresh_from_db()
        assert request.remote_status.endswith("Confirmed")
        _run(ACU, "pull_fulfillments")
        assert order.fulfillments.get().tracking_numbers == ["1ZDEMO0000001"]
        _run(CHANNEL, "push_fulfillments")
        remote = EmuOrder.objects.get(pk=remote.pk)
        assert remote.data["tracking_number"] == "1ZDEMO0000001"
        assert remote.packages.get().shipping_provider_id == "6617675021119438850"  # UPS, mapped from UPSGROUND
    finally:
        AcumaticaFlow.window_lag = timedelta(seconds=5)
