"""Cancellations (CancelSalesOrder with 202 polling, too late once shipped), refunds (off by default, once per
refund), shipments → shipping-request status and fulfillments, products, inventory both directions with SKU scoping,
locations both directions, the connection test."""
import json
from decimal import Decimal

import pytest

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.models import ExternalRef, Integration, OutboundPush
from inventory.models import InventoryLevel, Location
from orders.models import Fulfillment, OrderLine, Refund, RefundLine
from tests.integrations.connectors.acumatica.conftest import BASE, INSTANCE, load_fixture, run_flow, settings_set

pytestmark = pytest.mark.django_db


def so(status, nbr="SO000123"):
    return {"OrderType": {"value": "SO"}, "OrderNbr": {"value": nbr}, "Status": {"value": status},
            "CustomerOrder": {"value": "5770001"}, "ExternalRef": {"value": "SY-5770001-1"}}


@pytest.fixture
def sent_sr(make_sr, channel_order):
    sr = make_sr(channel_order, status="sentToFulfillment", external_id="SO/SO000123", cancel_state="requested")
    return sr


# --- cancellations ----------------------------------------------------------------------------------------------


def test_cancel_polls_202_then_confirms(acu_integration, acu_api, sent_sr):
    status = BASE + "/SalesOrder/CancelSalesOrder/status/op-1"
    acu_api.ok("GET", "/SalesOrder/SO/SO000123", so("Open"))
    acu_api.mock.add("POST", BASE + "/SalesOrder/CancelSalesOrder", status=202, headers={"Location": status})
    acu_api.mock.add("GET", status, status=202, headers={"Location": status})
    acu_api.mock.add("GET", status, status=204)
    acu_api.ok("GET", "/SalesOrder/SO/SO000123", so("Canceled"))
    run = run_flow(acu_integration, "cancel_orders")
    assert (run.status, run.updated) == ("succeeded", 1)
    sent_sr.refresh_from_db()
    assert sent_sr.cancel_state == "canceled"
    assert len([c for c in acu_api.mock.calls if c.request.url == status]) == 2


def test_cancel_too_late_when_acumatica_shipped(acu_integration, acu_api, sent_sr):
    acu_api.ok("GET", "/SalesOrder/SO/SO000123", so("Completed"))
    run_flow(acu_integration, "cancel_orders")
    sent_sr.refresh_from_db()
    assert sent_sr.cancel_state == "too_late"
    assert acu_api.calls_to("/SalesOrder/CancelSalesOrder") == []


# --- refunds ----------------------------------------------------------------------------------------------------


@pytest.fixture
def refund(channel_order, fake_integration, sent_sr):
    line = OrderLine.objects.get(order=channel_order, sku="SKU-1")
    r = Refund.objects.create(order=channel_order, integration=fake_integration, external_id="RF-1", status="completed",
                              amount=Decimal("9.50"))
    RefundLine.objects.create(refund=r, order_line=line, sku="SKU-1", quantity=1, amount=Decimal("9.50"))
    return r


def test_refunds_are_off_by_default(acu_integration, refund):
    state = acu_integration.flow_states.get(flow="push_refunds")
    assert state.enabled is False and acu_integration.setting("push_refunds") is False
    assert acu_integration.setting("refund_order_type") == "RC"


def test_refund_becomes_one_rc_return_order_once(acu_integration, acu_api, refund):
    settings_set(acu_integration, push_refunds=True)
    assert acu_integration.flow_states.get(flow="push_refunds").enabled is True
    acu_api.ok("PUT", "/SalesOrder", {"OrderType": {"value": "RC"}, "OrderNbr": {"value": "RC000007"}, "Status": {"value": "Open"}})
    run = run_flow(acu_integration, "push_refunds")
    assert (run.status, run.created) == ("succeeded", 1)
    body = json.loads(acu_api.calls_to("/SalesOrder", "PUT")[0].request.body)
    assert body["OrderType"] == {"value": "RC"} and body["CustomerOrder"] == {"value": "5770001-RRF-1"}
    assert body["Details"][0]["InventoryID"] == {"value": "SKU-1"} and body["Details"][0]["Operation"] == {"value": "Receipt"}
    assert OutboundPush.objects.get(kind="acumatica_refund").remote_id == "RC/RC000007"
    # a first attempt under an unbroken lease: no look-up after the create; its attempt was committed before the PUT
    assert acu_api.calls_to("/SalesOrder", "GET") == [] and OutboundPush.objects.get(kind="acumatica_refund").attempts == 1
    run_flow(acu_integration, "push_refunds")
    assert len(acu_api.calls_to("/SalesOrder", "PUT")) == 1 and acu_api.calls_to("/SalesOrder", "GET") == []


# --- shipments --------------------------------------------------------------------------------------------------


def test_confirmed_shipment_becomes_a_fulfillment_with_every_tracking_number(acu_integration, acu_api, sent_sr):
    settings_set(acu_integration, pull_fulfillments=True)
    acu_api.fixture("GET", "/Shipment", "shipment_list__keys.json")
    acu_api.fixture("GET", "/Shipment/000045", "shipment_get__confirmed.json")
    run = run_flow(acu_integration, "pull_fulfillments")
    assert (run.status, run.created) == ("succeeded", 1)
    f = Fulfillment.objects.get()
    assert (f.external_id, f.carrier, f.tracking_numbers) == ("000045:SO/SO000123", "UPSGROUND",
                                                              ["1Z999AA10123456784", "1Z999AA10123456785"])
    assert [(ln.sku, ln.quantity) for ln in f.lines.all()] == [("SKU-1", 2)]  # partial: SKU-2 still open
    listing = acu_api.calls_to("/Shipment")[0].request.url
    assert "LastModifiedDateTime+le+datetimeoffset" in listing
    detail = acu_api.calls_to("/Shipment/000045")[0].request.url
    assert "%24expand=Details%2COrders%2CPackages" in detail
    cursor = acu_integration.flow_states.get(flow="pull_fulfillments").cursor
    assert cursor.get("since")
    # the same shipment again records nothing new
    acu_api.fixture("GET", "/Shipment", "shipment_list__keys.json")
    acu_api.fixture("GET", "/Shipment/000045", "shipment_get__confirmed.json")
    assert run_flow(acu_integration, "pull_fulfillments").created == 0 and Fulfillment.objects.count() == 1


def test_shipment_status_shows_on_the_shipping_request(acu_integration, acu_api, sent_sr):
    acu_api.fixture("GET", "/Shipment", "shipment_list__keys.json")
    acu_api.ok("GET", "/Shipment/000045", {**load_fixture("shipment_get__confirmed.json"), "Status": {"value": "Open"}})
    run = run_flow(acu_integration, "pull_shipping_requests")
    sent_sr.refresh_from_db()
    assert run.updated == 1 and sent_sr.remote_status == "shipment 000045: Open"
    assert Fulfillment.objects.count() == 0


# --- products ---------------------------------------------------------------------------------------------------


def test_products_pull_creates_and_updates_by_inventory_id(acu_integration, acu_api, products):
    settings_set(acu_integration, pull_products=True, force_product_resync=True)
    acu_api.fixture("GET", "/StockItem", "stockitem_list.json")
    run = run_flow(acu_integration, "pull_products")
    assert (run.created, run.updated) == (1, 1)
    assert Product.objects.get(sku="NEW-ITEM").price == Decimal("4.00")
    assert Product.objects.get(sku="SKU-1").name == "Blue mug 12oz"
    assert ExternalRef.objects.filter(integration=acu_integration, kind="product").count() == 2
    assert "LastModified+gt" not in acu_api.calls_to("/StockItem")[0].request.url  # forced: whole item master
    assert Integration.objects.get(pk=acu_integration.pk).setting("force_product_resync") is False
    acu_api.fixture("GET", "/StockItem", "stockitem_list.json")
    again = run_flow(acu_integration, "pull_products")
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert "LastModified+gt" in acu_api.calls_to("/StockItem")[1].request.url


# --- inventory --------------------------------------------------------------------------------------------------


def stock_ids(acu_api, *ids):
    acu_api.ok("GET", "/StockItem", [{"InventoryID": {"value": i}} for i in ids])


def test_inventory_pull_sets_levels_and_honours_sku_scoping(acu_integration, acu_api, acu_location, products):
    settings_set(acu_integration, inventory_direction="pull", inventory_excluded_skus=["SKU-2"], inventory_matched_skus_only=True)
    states = {s.flow: s.enabled for s in acu_integration.flow_states.all()}
    assert (states["pull_inventory"], states["push_inventory"]) == (True, False)
    stock_ids(acu_api, "SKU-1", "SKU-2", "UNKNOWN")
    acu_api.fixture("PUT", "/InventorySummaryInquiry", "inventory_summary__sku1.json")
    run = run_flow(acu_integration, "pull_inventory")
    assert run.status == "succeeded"
    assert len(acu_api.calls_to("/InventorySummaryInquiry")) == 1  # SKU-2 excluded, UNKNOWN unmatched
    level = InventoryLevel.objects.get(product=products[0], location=acu_location)
    assert (level.on_hand, level.fulfillable) == (50, 45)
    assert "2 item(s) skipped by SKU scoping" in run.note


def test_inventory_push_sends_the_differences_as_one_released_adjustment(acu_integration, acu_api, acu_location, products):
    settings_set(acu_integration, inventory_direction="push", inventory_excluded_skus=["SKU-2"])
    InventoryLevel.objects.create(product=products[0], location=acu_location, on_hand=60, available=60)
    InventoryLevel.objects.create(product=products[1], location=acu_location, on_hand=5, available=5)
    acu_api.ok("GET", "/InventoryAdjustment", [])
    acu_api.fixture("PUT", "/InventorySummaryInquiry", "inventory_summary__sku1.json")
    acu_api.ok("PUT", "/InventoryAdjustment", {"ReferenceNbr": {"value": "000777"}, "Status": {"value": "Balanced"}})
    acu_api.mock.add("POST", BASE + "/InventoryAdjustment/ReleaseAdjustment", status=204)
    run = run_flow(acu_integration, "push_inventory")
    assert run.status == "succeeded" and run.updated == 1
    body = json.loads(acu_api.calls_to("/InventoryAdjustment", "PUT")[0].request.body)
    assert body["Details"] == [{"InventoryID": {"value": "SKU-1"}, "WarehouseID": {"value": "MAIN"}, "Qty": {"value": 10}}]
    assert body["ExternalRef"]["value"].startswith(f"SY-INV-{acu_integration.pk}-")
    assert acu_api.calls_to("/InventoryAdjustment", "PUT")[0].request.headers["If-None-Match"] == "*"
    release = json.loads(acu_api.calls_to("/InventoryAdjustment/ReleaseAdjustment")[0].request.body)
    assert release["entity"] == {"ReferenceNbr": {"value": "000777"}}
    # unchanged quantities are not sent again
    acu_api.ok("GET", "/InventoryAdjustment", [])
    run_flow(acu_integration, "push_inventory")
    assert len(acu_api.calls_to("/InventoryAdjustment", "PUT")) == 1


def test_inventory_push_matched_skus_only_skips_unbound_products(acu_integration, acu_api, acu_location, products):
    settings_set(acu_integration, inventory_direction="push", inventory_matched_skus_only=True)
    InventoryLevel.objects.create(product=products[0], location=acu_location, on_hand=60, available=60)
    InventoryLevel.objects.create(product=products[1], location=acu_location, on_hand=5, available=5)
    ChannelOption.objects.create(product=products[0], integration=acu_integration, channel_sku="SKU-1")
    acu_api.ok("GET", "/InventoryAdjustment", [])
    acu_api.fixture("PUT", "/InventorySummaryInquiry", "inventory_summary__sku1.json")
    acu_api.ok("PUT", "/InventoryAdjustment", {"ReferenceNbr": {"value": "000778"}})
    acu_api.mock.add("POST", BASE + "/InventoryAdjustment/ReleaseAdjustment", status=204)
    run_flow(acu_integration, "push_inventory")
    assert len(acu_api.calls_to("/InventorySummaryInquiry")) == 1


def test_inventory_push_releases_our_pending_adjustment_first(acu_integration, acu_api, acu_location):
    settings_set(acu_integration, inventory_direction="push")
    acu_api.ok("GET", "/InventoryAdjustment", [{"ReferenceNbr": {"value": "000700"}, "Status": {"value": "Balanced"},
                                               "ExternalRef": {"value": f"SY-INV-{acu_integration.pk}-9-MAIN"}}])
    acu_api.mock.add("POST", BASE + "/InventoryAdjustment/ReleaseAdjustment", status=204)
    run = run_flow(acu_integration, "push_inventory")
    assert "1 pending adjustment(s) of an earlier run released first" in run.note
    assert "startswith%28ExternalRef" in acu_api.calls_to("/InventoryAdjustment", "GET")[0].request.url


# --- locations --------------------------------------------------------------------------------------------------


def test_locations_pull_creates_one_location_per_warehouse(acu_integration, acu_api):
    settings_set(acu_integration, locations_direction="pull")
    acu_api.fixture("GET", "/Warehouse", "warehouse_list.json")
    run = run_flow(acu_integration, "pull_locations")
    assert run.created == 2
    assert sorted(Location.objects.filter(integration=acu_integration).values_list("external_id", flat=True)) == ["MAIN", "WEST"]
    acu_api.fixture("GET", "/Warehouse", "warehouse_list.json")
    assert run_flow(acu_integration, "pull_locations").unchanged == 2


def test_locations_push_creates_warehouses(acu_integration, acu_api):
    settings_set(acu_integration, locations_direction="push")
    loc = Location.objects.create(integration=acu_integration, code="east-1", name="East")
    acu_api.ok("PUT", "/Warehouse", {"WarehouseID": {"value": "EAST1"}, "Description": {"value": "East"}})
    run_flow(acu_integration, "push_locations")
    loc.refresh_from_db()
    assert loc.external_id == "EAST1"
    assert json.loads(acu_api.calls_to("/Warehouse", "PUT")[0].request.body)["WarehouseID"] == {"value": "EAST1"}


# --- connection test --------------------------------------------------------------------------------------------


def test_connection_test_checks_the_endpoint_exists(acu_integration, responses):
    responses.add("GET", INSTANCE + "/entity", json=load_fixture("endpoints.json"))
    ok, message = services.integration_test_connection(integration=acu_integration)
    assert ok and "Default/23.200.001" in message and "23.210.0015" in message


def test_connection_test_names_a_missing_endpoint(acu_integration, responses):
    creds = acu_integration.get_credentials()
    acu_integration.set_credentials({**creds, "api_endpoint": "Pipe17/001"})
    acu_integration.save()
    responses.add("GET", INSTANCE + "/entity", json=load_fixture("endpoints.json"))
    ok, message = services.integration_test_connection(integration=acu_integration)
    # the entered value is a credential field, so redaction masks it; the published endpoints are named
    assert not ok and "does not exist on this instance" in message and "Default/24.200.001" in message
    assert Integration.objects.get(pk=acu_integration.pk).status == "error"


def test_locations_push_412_links_only_our_own_warehouse(acu_integration, acu_api):
    settings_set(acu_integration, locations_direction="push")
    ours = Location.objects.create(integration=acu_integration, code="east-1", name="East")
    theirs = Location.objects.create(integration=acu_integration, code="main", name="Main hub")
    acu_api.fixture("PUT", "/Warehouse", "error__412.json", status=412)
    acu_api.ok("GET", "/Warehouse/EAST1", {"WarehouseID": {"value": "EAST1"}, "Description": {"value": "East"}})
    acu_api.fixture("PUT", "/Warehouse", "error__412.json", status=412)
    acu_api.ok("GET", "/Warehouse/MAIN", {"WarehouseID": {"value": "MAIN"}, "Description": {"value": "Main warehouse"}})
    run = run_flow(acu_integration, "push_locations")
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.external_id == "EAST1" and theirs.external_id == ""
    assert run.failed == 1 and "already exists in Acumatica as “Main warehouse”" in run.errors[0]["message"]


def test_products_pull_refuses_an_item_differing_only_by_case(acu_integration, acu_api, products):
    settings_set(acu_integration, pull_products=True)
    acu_api.ok("GET", "/StockItem", [{"InventoryID": {"value": "sku-2"}, "Description": {"value": "lower"},
                                      "ItemStatus": {"value": "Active"}}])
    run = run_flow(acu_integration, "pull_products")
    assert run.created == 0 and run.failed == 1
    assert "differs from product 'SKU-2' only by case" in run.errors[0]["message"]
    assert Product.objects.filter(sku__iexact="sku-2").count() == 1
