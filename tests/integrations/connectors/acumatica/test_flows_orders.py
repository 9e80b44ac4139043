"""Orders → Acumatica through the sync engine: one sales order per shipping request, lost answers looked up by
CustomerOrder (never two), missing mappings caught before the call (one cause each, Re-drive sends them), order-source
scoping, the order-type entries, Mark Sent to Fulfillment, 422 naming the field."""
import json

import pytest
import requests

from integrations.connectors.acumatica.flows.base import order_type_for
from integrations.models import Integration, Mapping, OpsException, OutboundPush
from orders.models import Order, ShippingRequest
from orders.services import exceptions_redrive
from tests.integrations.connectors.acumatica.conftest import load_fixture, run_flow, settings_set

pytestmark = pytest.mark.django_db


def put_calls(acu_api):
    return acu_api.calls_to("/SalesOrder", "PUT")


def test_push_creates_one_sales_order_with_the_documented_body(acu_integration, acu_api, channel_order, make_sr, mapped):
    sr = make_sr(channel_order)
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")
    run = run_flow(acu_integration, "push_orders")
    assert (run.status, run.created) == ("succeeded", 1)
    body = json.loads(put_calls(acu_api)[0].request.body)
    assert body["OrderType"] == {"value": "SO"} and body["CustomerID"] == {"value": "TIKTOK"}
    assert body["CustomerOrder"] == {"value": "5770001"} and body["ExternalRef"] == {"value": sr.reference}
    assert (body["ShipVia"], body["PaymentMethod"]) == ({"value": "UPSGROUND"}, {"value": "TTS"})
    assert body["ShipToAddressOverride"] == {"value": True} and body["ShipToAddress"]["PostalCode"] == {"value": "78701"}
    assert body["ShipToContact"]["Attention"] == {"value": "Ana Diaz"}
    assert body["Details"] == [
        {"InventoryID": {"value": "SKU-1"}, "OrderQty": {"value": 2}, "UnitPrice": {"value": 9.5}, "WarehouseID": {"value": "MAIN"}},
        {"InventoryID": {"value": "SKU-2"}, "OrderQty": {"value": 1}, "UnitPrice": {"value": 5.0}, "WarehouseID": {"value": "MAIN"}}]
    sr.refresh_from_db()
    assert (sr.status, sr.external_id, sr.remote_status) == ("sentToFulfillment", "SO/SO000123", "Open")
    push = OutboundPush.objects.get(kind="acumatica_sales_order")
    assert (push.remote_id, push.response) == ("SO/SO000123", {"order_type": "SO", "order_nbr": "SO000123", "status": "Open"})
    # a first attempt under an unbroken lease: no look-up after the create, nothing cancelled, no exception
    assert len(acu_api.mock.calls) == 1 and acu_api.calls_to("/SalesOrder/CancelSalesOrder") == []
    assert not OpsException.objects.filter(code="acumatica_duplicate_sales_order").exists()
    # the next run sends nothing
    assert run_flow(acu_integration, "push_orders").fetched == 0 and len(acu_api.mock.calls) == 1


def test_acumatica_channel_sku_is_sent_as_inventory_id(acu_integration, acu_api, channel_order, make_sr, mapped, products):
    from catalog.models import ChannelOption

    ChannelOption.objects.create(product=products[0], integration=acu_integration, channel_sku="MUG-BLK-12OZ")
    make_sr(channel_order)
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")
    acu_api.none_found()
    run_flow(acu_integration, "push_orders")
    details = json.loads(put_calls(acu_api)[0].request.body)["Details"]
    assert [d["InventoryID"]["value"] for d in details] == ["MUG-BLK-12OZ", "SKU-2"]


def test_lost_response_is_looked_up_by_customer_order_and_never_creates_two(acu_integration, acu_api, channel_order, make_sr,
                                                                            mapped):
    sr = make_sr(channel_order)
    # the PUT reached Acumatica but the answer was lost
    acu_api.mock.add("PUT", acu_api.url("/SalesOrder"), body=requests.ReadTimeout("read timed out"))
    first = run_flow(acu_integration, "push_orders")
    assert first.status == "failed"
    sr.refresh_from_db()
    assert sr.status == "readyForFulfillment" and OutboundPush.objects.get(kind="acumatica_sales_order").attempts == 1
    acu_api.fixture("GET", "/SalesOrder", "salesorder_list__found.json")
    second = run_flow(acu_integration, "push_orders")
    assert second.status == "succeeded"
    assert len(put_calls(acu_api)) == 1  # only the lost one
    lookup = acu_api.calls_to("/SalesOrder", "GET")[0].request.url
    assert "CustomerOrder+eq+%275770001%27" in lookup and "OrderType+eq+%27SO%27" in lookup
    sr.refresh_from_db()
    assert (sr.status, sr.external_id) == ("sentToFulfillment", "SO/SO000123")


def test_missing_ship_via_is_caught_before_the_call_one_cause_and_redrive_sends_all(acu_integration, acu_api, fake_integration,
                                                                                   products, make_sr, admin_user):
    from decimal import Decimal

    from orders.models import OrderLine

    Mapping.objects.create(integration=acu_integration, kind="payment_method", source="*", target="TTS")
    srs = []
    for n in (1, 2):
        order = Order.objects.create(integration=fake_integration, external_id=f"57700{n}", status="readyForFulfillment",
                                     shipping_method="Express", shipping_address={"address1": "1 St", "country": "US"})
        OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=1, unit_price=Decimal("9.50"))
        srs.append(make_sr(order, method="Express"))
    run = run_flow(acu_integration, "push_orders")
    assert len(acu_api.mock.calls) == 0  # never a stream of 422s
    assert run.failed == 2
    open_ = OpsException.objects.filter(status="open", code="acumatica_unmapped_ship_via")
    assert open_.count() == 2 and {e.cause_key for e in open_} == {f"acumatica_unmapped_ship_via:{acu_integration.pk}:Express"}
    assert "“Express” has no Ship Via mapping" in open_.first().message
    # the admin adds the mapping and presses Re-drive on one of them
    Mapping.objects.create(integration=acu_integration, kind="shipping_method", source="Express", target="FEDEX2DAY")
    exceptions_redrive(exceptions=[open_.first()], user=admin_user)
    for nbr in ("SO000123", "SO000124"):
        acu_api.ok("PUT", "/SalesOrder", {**load_fixture("salesorder_create__ok.json"), "OrderNbr": {"value": nbr}})
    acu_api.none_found()
    run_flow(acu_integration, "push_orders")
    assert len(put_calls(acu_api)) == 2
    assert sorted(ShippingRequest.objects.values_list("external_id", flat=True)) == ["SO/SO000123", "SO/SO000124"]
    assert OpsException.objects.filter(status="open", code="acumatica_unmapped_ship_via").count() == 0


def test_missing_payment_mapping_and_customer_are_their_own_causes(acu_integration, acu_api, channel_order, make_sr):
    Mapping.objects.create(integration=acu_integration, kind="shipping_method", source="Standard", target="UPSGROUND")
    sr = make_sr(channel_order)
    run_flow(acu_integration, "push_orders")
    exc = OpsException.objects.get(status="open", code="acumatica_unmapped_payment_method")
    assert exc.cause_key == f"acumatica_unmapped_payment_method:{acu_integration.pk}:Credit card"
    settings_set(acu_integration, generic_customer_id="")
    Mapping.objects.create(integration=acu_integration, kind="payment_method", source="Credit card", target="TTS")
    exceptions_redrive(exceptions=[exc])
    run_flow(acu_integration, "push_orders")
    assert OpsException.objects.filter(status="open", code="acumatica_missing_customer", object_id=sr.pk).count() == 1
    assert len(acu_api.mock.calls) == 0


def test_422_rejection_is_readable_and_names_the_field(acu_integration, acu_api, channel_order, make_sr, mapped):
    sr = make_sr(channel_order)
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__422_ship_via.json", status=422)
    run = run_flow(acu_integration, "push_orders")
    assert run.failed == 1
    sr.refresh_from_db()
    assert sr.status == "failed"
    exc = OpsException.objects.get(status="open", code="acumatica_rejected")
    assert "ShipVia: 'Ship Via' cannot be found in the system." in exc.message
    assert "Details[1].InventoryID" in exc.message


def test_412_on_create_binds_the_existing_order(acu_integration, acu_api, channel_order, make_sr, mapped):
    sr = make_sr(channel_order)
    acu_api.fixture("PUT", "/SalesOrder", "error__412.json", status=412)
    acu_api.fixture("GET", "/SalesOrder", "salesorder_list__found.json")
    run_flow(acu_integration, "push_orders")
    sr.refresh_from_db()
    assert sr.external_id == "SO/SO000123" and len(put_calls(acu_api)) == 1


def test_order_source_scoping_holds_other_sources(acu_integration, acu_api, channel_order, make_sr, mapped, fake_integration):
    settings_set(acu_integration, order_sources=["tiktok"])
    sr = make_sr(channel_order)
    run_flow(acu_integration, "push_orders")
    assert len(acu_api.mock.calls) == 0
    exc = OpsException.objects.get(status="open", code="acumatica_source_out_of_scope")
    assert exc.cause_key == f"acumatica_source_out_of_scope:{acu_integration.pk}:{fake_integration.pk}"
    assert "“Fake A” is not in “Push orders to Acumatica only for specific order sources”" in exc.message
    settings_set(acu_integration, order_sources=["tiktok", "Fake A"])
    exceptions_redrive(exceptions=[exc])
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")
    acu_api.none_found()
    run_flow(acu_integration, "push_orders")
    sr.refresh_from_db()
    assert sr.status == "sentToFulfillment"


def test_order_type_entry_for_the_channel_is_used(acu_integration, acu_api, channel_order, make_sr, mapped):
    settings_set(acu_integration, order_types=["tiktok:TT", "fake:WS"])
    make_sr(channel_order)
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")
    acu_api.none_found()
    run_flow(acu_integration, "push_orders")
    assert json.loads(put_calls(acu_api)[0].request.body)["OrderType"] == {"value": "WS"}


def test_order_type_for_defaults_and_rejects_malformed_entries(fake_integration):
    from integrations.connectors.acumatica.flows.base import OrderTypeEntryError

    assert order_type_for([], fake_integration) == "SO"
    assert order_type_for(["tiktok:TT"], fake_integration) == "SO"
    assert order_type_for(["Fake A:ws"], fake_integration) == "WS"
    with pytest.raises(OrderTypeEntryError):
        order_type_for(["fakeWS"], fake_integration)


def test_malformed_order_type_entry_holds_the_order_visibly(acu_integration, acu_api, channel_order, make_sr, mapped):
    settings_set(acu_integration, order_types=["fake"])
    make_sr(channel_order)
    run_flow(acu_integration, "push_orders")
    assert len(acu_api.mock.calls) == 0
    assert "is not channel:orderType" in OpsException.objects.get(status="open", code="acumatica_order_type_entry").message


@pytest.mark.parametrize("mark, expected", [(True, "sentToFulfillment"), (False, "readyForFulfillment")])
def test_mark_sent_to_fulfillment_setting(acu_integration, acu_api, channel_order, make_sr, mapped, mark, expected):
    settings_set(acu_integration, mark_sent_to_fulfillment=mark)
    sr = make_sr(channel_order)
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")
    acu_api.none_found()
    run_flow(acu_integration, "push_orders")
    sr.refresh_from_db()
    channel_order.refresh_from_db()
    assert sr.status == "sentToFulfillment" and channel_order.status == expected


def test_dry_run_sends_nothing(acu_integration, acu_api, channel_order, make_sr, mapped):
    from integrations import services

    make_sr(channel_order)
    services.flow_run(flow_state=acu_integration.flow_states.get(flow="push_orders"), dry_run=True)
    assert len(acu_api.mock.calls) == 0  # neither the create nor the look-up after it


@pytest.mark.parametrize("api_url, message", [("not a url", "is not a valid instance URL"),
                                                ("http://acme.example.com", "must use https")])
def test_malformed_api_url_fails_the_run_clearly_and_sends_nothing(acu_integration, acu_api, channel_order, make_sr, mapped,
                                                                   api_url, message):
    creds = acu_integration.get_credentials()
    acu_integration.set_credentials({**creds, "api_url": api_url})
    acu_integration.save()
    sr = make_sr(channel_order)
    run = run_flow(acu_integration, "push_orders")
    assert run.status == "failed"
    assert message in Integration.objects.get(pk=acu_integration.pk).last_error
    assert len(acu_api.mock.calls) == 0
    sr.refresh_from_db()
    assert sr.status == "readyForFulfillment"
