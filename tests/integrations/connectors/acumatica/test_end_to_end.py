"""End to end against the emulator (the documented wire format): connect with OAuth, push a sales order, Acumatica
ships it (package + tracking), the shipment shows on the shipping request and becomes a fulfillment; products,
locations, inventory pull; cancellation through 202 polling; a Ship Via the tenant lacks → 422 naming ShipVia;
a revoked grant → Error + Re-authorize."""
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Product
from integrations import services
from integrations.connectors.acumatica import emulator as emu
from integrations.connectors.acumatica.models import EmuRecord
from integrations.models import Integration, Mapping, OpsException
from inventory.models import InventoryLevel, Location
from orders.models import Fulfillment
from orders.services import exceptions_redrive
from tests.integrations.connectors.acumatica.conftest import CLIENT_ID, CLIENT_SECRET, INSTANCE, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_window_lag(monkeypatch):
    """The emulator stamps changes with the hub's own clock: no commit lag to wait for."""
    from integrations.connectors.acumatica.flows.base import AcumaticaFlow

    monkeypatch.setattr(AcumaticaFlow, "window_lag", timedelta(0))


@pytest.fixture
def connected(emulator, client, admin_user):
    integration = services.integration_create(
        name="Acumatica", connector="acumatica",
        settings={"push_orders": True, "push_canceled_orders": True, "generic_customer_id": "TIKTOK", "pull_fulfillments": True,
                  "pull_shipping_requests": True, "pull_products": True, "inventory_direction": "pull",
                  "locations_direction": "pull", "mark_sent_to_fulfillment": True},
        credentials={"api_url": INSTANCE, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET})
    client.force_login(admin_user)
    start = client.post(reverse("integrations:acumatica:connect", args=[integration.pk]))
    authorize = urlsplit(start["Location"])
    approved = client.get("/integrations/acumatica/sandbox/identity/connect/authorize?" + authorize.query)
    back = parse_qs(urlsplit(approved["Location"]).query)
    done = client.get(reverse("integrations:acumatica:callback"), {"code": back["code"][0], "state": back["state"][0]})
    assert done.status_code == 302
    integration.refresh_from_db()
    assert integration.status == "connected" and integration.get_credentials()["refresh_token"]
    return integration


def test_order_to_sales_order_to_shipment_to_fulfillment(connected, emulator, channel_order, products):
    integration = connected
    assert run_flow(integration, "pull_locations").created == 1
    location = Location.objects.get(integration=integration, external_id="MAIN")
    Mapping.objects.create(integration=integration, kind="shipping_method", source="Standard", target="UPSGROUND")
    Mapping.objects.create(integration=integration, kind="payment_method", source="*", target="TTS")
    from orders.models import ShippingRequest, ShippingRequestLine

    sr = ShippingRequest.objects.create(order=channel_order, integration=integration, location=location, reference="SY-E2E-1",
                                        status="readyForFulfillment", shipping_method="Standard")
    for line in channel_order.lines.all():
        ShippingRequestLine.objects.create(shipping_request=sr, order_line=line, product=line.product, sku=line.sku,
                                           quantity=line.quantity)
    run = run_flow(integration, "push_orders")
    assert (run.status, run.created) == ("succeeded", 1)
    sr.refresh_from_db()
    order = EmuRecord.objects.get(entity="SalesOrder")
    assert sr.external_id == f"SO/{order.data['OrderNbr']}" and order.data["CustomerOrder"] == "5770001"
    assert order.data["ShipVia"] == "UPSGROUND" and order.data["ShipToAddress"]["City"] == "Austin"
    channel_order.refresh_from_db()
    assert channel_order.status == "sentToFulfillment"
    # Acumatica ships it
    shipment = emu.emulator_ship(instance=emulator, order_nbr=order.data["OrderNbr"], tracking="1ZE2E0001")
    assert run_flow(integration, "pull_shipping_requests").updated == 1
    sr.refresh_from_db()
    assert sr.remote_status == f"shipment {shipment['ShipmentNbr']}: Confirmed"
    run = run_flow(integration, "pull_fulfillments")
    assert run.created == 1
    f = Fulfillment.objects.get()
    assert (f.carrier, f.tracking_numbers) == ("UPSGROUND", ["1ZE2E0001"])
    assert sorted((ln.sku, ln.quantity) for ln in f.lines.all()) == [("SKU-1", 2), ("SKU-2", 1)]


def test_catalog_inventory_cancel_reject_and_revoke(connected, emulator, channel_order, products):
    integration = connected
    run_flow(integration, "pull_locations")
    run = run_flow(integration, "pull_products")
    assert (run.created, run.updated) == (0, 2)  # the emulator's items are the hub's two products
    assert Product.objects.get(sku="SKU-1").name == "Sku 1"
    assert run_flow(integration, "pull_inventory").status == "succeeded"
    level = InventoryLevel.objects.get(product__sku="SKU-1", location__external_id="MAIN")
    assert level.on_hand == 30
    # a mapping to a Ship Via the tenant does not have: Acumatica's 422 names the field
    location = Location.objects.get(integration=integration, external_id="MAIN")
    Mapping.objects.create(integration=integration, kind="shipping_method", source="Standard", target="NOSUCH")
    Mapping.objects.create(integration=integration, kind="payment_method", source="*", target="TTS")
    from orders.models import ShippingRequest, ShippingRequestLine

    sr = ShippingRequest.objects.create(order=channel_order, integration=integration, location=location, reference="SY-E2E-2",
                                        status="readyForFulfillment", shipping_method="Standard")
    ShippingRequestLine.objects.create(shipping_request=sr, order_line=channel_order.lines.first(), sku="SKU-1", quantity=1,
                                       product=products[0])
    InventoryLevel.objects.filter(pk=level.pk).update(committed=1)  # what routing committed for the request
    run_flow(integration, "push_orders")
    assert "ShipVia: 'Ship Via' cannot be found" in OpsException.objects.get(status="open", code="acumatica_rejected").message
    # fixed: sent; then canceled here → CancelSalesOrder answered 202 twice, polled, confirmed
    Mapping.objects.filter(target="NOSUCH").update(target="UPSGROUND")
    exceptions_redrive(exceptions=OpsException.objects.filter(status="open", code="acumatica_rejected"))
    assert run_flow(integration, "push_orders").created == 1
    ShippingRequest.objects.filter(pk=sr.pk).update(cancel_state="requested")
    run = run_flow(integration, "cancel_orders")
    assert run.updated == 1, (run.status, run.note, run.error_message)
    assert EmuRecord.objects.get(entity="SalesOrder").data["Status"] == "Canceled"
    # the grant is revoked in Acumatica: the next refresh is refused → Error + Re-authorize, paused
    emu.emulator_revoke(instance=emulator)
    Integration.objects.filter(pk=integration.pk).update(auth_expires_at=timezone.now() - timedelta(minutes=1))
    integration.refresh_from_db()
    run = run_flow(integration, "pull_products")
    assert run.status == "failed"
    integration.refresh_from_db()
    assert integration.status == "error" and integration.paused_reason.startswith("Re-authorize Acumatica")
    assert OpsException.objects.filter(status="open", code="acumatica_reauthorize").count() == 1


def test_refund_inventory_push_and_location_push_against_the_emulator(connected, emulator, channel_order, products,
                                                                      fake_integration):
    from decimal import Decimal

    from orders.models import OrderLine, Refund, RefundLine, ShippingRequest

    integration = connected
    settings_set(integration, push_refunds=True, inventory_direction="push", locations_direction="push")
    # push locations: a hub location of this integration becomes an Acumatica warehouse
    west = Location.objects.create(integration=integration, code="acu-west", name="West coast")
    run_flow(integration, "push_locations")
    west.refresh_from_db()
    assert west.external_id == "ACUWEST" and EmuRecord.objects.filter(entity="Warehouse", key="ACUWEST").exists()
    # push inventory: the hub says 42 of SKU-1 at MAIN, Acumatica has 30 → one released adjustment of +12
    main = Location.objects.create(integration=integration, code="acu-main", name="Main", external_id="MAIN")
    InventoryLevel.objects.create(product=products[0], location=main, on_hand=42, available=42)
    run = run_flow(integration, "push_inventory")
    assert run.status == "succeeded" and run.updated == 1
    assert EmuRecord.objects.get(entity="Stock", key="SKU-1|MAIN").data["QtyOnHand"] == 42
    assert EmuRecord.objects.get(entity="InventoryAdjustment").data["Status"] == "Released"
    assert run_flow(integration, "push_inventory").updated == 0  # nothing changed: nothing sent
    # refunds: an order sent to Acumatica is refunded → one RC return order, once
    ShippingRequest.objects.create(order=channel_order, integration=integration, location=main, reference="SY-E2E-R",
                                   status="sentToFulfillment", external_id="SO/000001")
    refund = Refund.objects.create(order=channel_order, integration=fake_integration, external_id="RF-9", status="completed",
                                   amount=Decimal("9.50"))
    RefundLine.objects.create(refund=refund, order_line=OrderLine.objects.get(order=channel_order, sku="SKU-1"), sku="SKU-1",
                              quantity=1, amount=Decimal("9.50"))
    assert run_flow(integration, "push_refunds").created == 1
    assert run_flow(integration, "push_refunds").created == 0
    returns = EmuRecord.objects.filter(entity="SalesOrder", data__OrderType="RC")
    assert returns.count() == 1 and returns.get().data["CustomerOrder"] == "5770001-RRF-9"
