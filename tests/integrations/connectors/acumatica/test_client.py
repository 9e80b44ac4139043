"""Client against `responses` fixtures built from the reference (§2): wrapper, PUT insert-only, 422/412/429/401,
202 action polling, paging, the shared limiter, bad API URL / endpoint."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest

from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.client import (
    AcumaticaClient,
    AcumaticaConflict,
    AcumaticaRejected,
    endpoint_path,
    instance_url,
)
from integrations.exceptions import AuthError, RateLimitedError, TransientError
from tests.integrations.connectors.acumatica.conftest import BASE, INSTANCE, load_fixture


def make_client(tokens=("acc-1",)):
    handed = list(tokens)
    seen = []

    def provide(stale):
        seen.append(stale)
        return handed.pop(0) if handed else "acc-last"

    client = AcumaticaClient(instance=INSTANCE, endpoint="Default/23.200.001", token_provider=provide, limiter_key="acumatica:7")
    client.seen = seen
    return client


def order_out(**kw):
    values = dict(order_type="SO", customer_id="TIKTOK", customer_order="5770001", external_ref="SY-5770001-1",
                  description="TikTok Shop order 5770001", ship_via="UPSGROUND", payment_method="TTS", date=None,
                  ship_to=m.ship_to_from_address({"name": "Ana", "address1": "100 Main St", "city": "Austin", "zip": "78701",
                                                  "country": "US"}),
                  lines=(m.SalesOrderLineOut("SKU-1", 2, Decimal("19.99"), "MAIN"),))
    values.update(kw)
    return m.SalesOrderOut(**values)


def test_wrapper_round_trip_and_system_fields():
    body = m.sales_order_body(order_out())
    assert body["OrderType"] == {"value": "SO"}
    assert body["ShipToAddressOverride"] == {"value": True}
    assert body["ShipToAddress"]["City"] == {"value": "Austin"}
    assert body["Details"] == [{"InventoryID": {"value": "SKU-1"}, "OrderQty": {"value": 2}, "UnitPrice": {"value": 19.99},
                                "WarehouseID": {"value": "MAIN"}}]
    plain = m.unwrap_entity(load_fixture("salesorder_create__ok.json"))
    assert plain["OrderNbr"] == "SO000123" and plain["id"].startswith("7a2d") and plain["custom"] == {}


def test_create_is_insert_only_put_and_maps_the_answer(acu_api, limiter):
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__ok.json")
    remote = make_client().sales_order_create(order=order_out())
    assert (remote.order_type, remote.order_nbr, remote.status, remote.key) == ("SO", "SO000123", "Open", "SO/SO000123")
    call = acu_api.calls_to("/SalesOrder", "PUT")[0]
    assert call.request.headers["If-None-Match"] == "*"
    assert call.request.headers["Authorization"] == "Bearer acc-1"
    assert json.loads(call.request.body)["CustomerOrder"] == {"value": "5770001"}
    assert limiter["slots"] == [("acumatica:7", 90, 60)]


def test_422_names_every_field_acumatica_complained_about(acu_api):
    acu_api.fixture("PUT", "/SalesOrder", "salesorder_create__422_ship_via.json", status=422)
    with pytest.raises(AcumaticaRejected) as caught:
        make_client().sales_order_create(order=order_out())
    assert caught.value.fields == ["(record)", "ShipVia", "Details[1].InventoryID"]
    assert "ShipVia: 'Ship Via' cannot be found in the system." in caught.value.message
    assert "Details[1].InventoryID: 'Inventory ID' cannot be found" in caught.value.message


def test_412_is_a_conflict(acu_api):
    acu_api.fixture("PUT", "/SalesOrder", "error__412.json", status=412)
    with pytest.raises(AcumaticaConflict, match="The record already exists"):
        make_client().sales_order_create(order=order_out())


def test_429_pauses_every_worker_and_backs_off(acu_api, limiter):
    acu_api.fixture("GET", "/SalesOrder", "error__429.json", status=429, headers={"Retry-After": "17"})
    with pytest.raises(RateLimitedError) as caught:
        make_client().sales_orders_find(order_type="SO", customer_order="1")
    assert caught.value.retry_after == 17
    assert limiter["pauses"] == [("acumatica:7", 17)]


def test_429_without_retry_after_pauses_the_default(acu_api, limiter):
    acu_api.fixture("GET", "/SalesOrder", "error__429.json", status=429)
    with pytest.raises(RateLimitedError):
        make_client().sales_orders_find(order_type="SO", customer_order="1")
    assert limiter["pauses"] == [("acumatica:7", 30.0)]


def test_401_refreshes_once_and_retries(acu_api):
    acu_api.ok("GET", "/SalesOrder", {"message": "You are not logged in."}, status=401)
    acu_api.fixture("GET", "/SalesOrder", "salesorder_list__found.json")
    client = make_client(tokens=("acc-old", "acc-new"))
    assert client.sales_orders_find(order_type="SO", customer_order="5770001")[0].order_nbr == "SO000123"
    assert client.seen == ["", "acc-old"]  # the refused token is handed back: single-flight refresh decides
    assert [c.request.headers["Authorization"] for c in acu_api.calls_to("/SalesOrder")] == ["Bearer acc-old", "Bearer acc-new"]


def test_filter_quotes_values(acu_api):
    acu_api.ok("GET", "/SalesOrder", [])
    make_client().sales_orders_find(order_type="SO", customer_order="O'Brien")
    url = acu_api.calls_to("/SalesOrder")[0].request.url
    assert "CustomerOrder+eq+%27O%27%27Brien%27" in url and "%24select=" in url


def test_action_202_is_polled_until_done(acu_api):
    status = INSTANCE + "/entity/Default/23.200.001/SalesOrder/CancelSalesOrder/status/abc"
    acu_api.mock.add("POST", BASE + "/SalesOrder/CancelSalesOrder", status=202, headers={"Location": status})
    acu_api.mock.add("GET", status, status=202, headers={"Location": status})
    acu_api.mock.add("GET", status, status=204)
    make_client().sales_order_cancel(order_type="SO", order_nbr="SO000123")
    post = acu_api.calls_to("/SalesOrder/CancelSalesOrder", "POST")[0]
    assert json.loads(post.request.body) == {"entity": {"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000123"}},
                                             "parameters": {}}
    assert len([c for c in acu_api.mock.calls if c.request.url == status]) == 2


def test_action_202_without_location_is_transient(acu_api):
    acu_api.mock.add("POST", BASE + "/SalesOrder/CancelSalesOrder", status=202)
    with pytest.raises(TransientError, match="without a Location"):
        make_client().sales_order_cancel(order_type="SO", order_nbr="SO000123")


def test_keyset_paging_asks_for_keys_after_the_last(acu_api, monkeypatch):
    from integrations.connectors.acumatica import client as cm

    monkeypatch.setattr(cm, "PAGE_SIZE", 2)
    acu_api.ok("GET", "/Warehouse", [{"WarehouseID": {"value": "A"}}, {"WarehouseID": {"value": "B"}}])
    acu_api.ok("GET", "/Warehouse", [{"WarehouseID": {"value": "C"}}])
    pages = list(make_client().keyset_pages("Warehouse", key="WarehouseID", filters=[], page_size=2))
    assert [len(p) for p in pages] == [2, 1]
    second = acu_api.calls_to("/Warehouse")[1].request.url
    assert "WarehouseID+gt+%27B%27" in second and "%24top=2" in second


def test_inventory_summary_sums_locations_per_warehouse(acu_api):
    acu_api.fixture("PUT", "/InventorySummaryInquiry", "inventory_summary__sku1.json")
    figures = make_client().inventory_summary(inventory_id="SKU-1")
    assert figures == [m.StockFigure("SKU-1", "MAIN", 50, 45)]
    assert "%24expand=Results" in acu_api.calls_to("/InventorySummaryInquiry")[0].request.url


@pytest.mark.parametrize("raw, expected", [
    ("https://acme.acumatica.com/", "https://acme.acumatica.com"),
    ("https://host/AcumaticaERP/entity/Default/23.200.001", "https://host/AcumaticaERP"),
    ("http://127.0.0.1:8000/integrations/acumatica/sandbox", "http://127.0.0.1:8000/integrations/acumatica/sandbox"),
])
def test_instance_url_normalised(raw, expected):
    assert instance_url(raw) == expected


@pytest.mark.parametrize("raw", ["acme.acumatica.com", "ftp://host/x", "http://acme.example.com", "https://host/x?y=1", ""])
def test_malformed_api_url_is_a_clear_error(raw):
    with pytest.raises(AuthError, match="API URL"):
        instance_url(raw)


def test_plain_http_loopback_only_with_the_sandbox(settings):
    settings.SANDBOX_ENABLED = False
    with pytest.raises(AuthError, match="must use https"):
        instance_url("http://127.0.0.1:8000/integrations/acumatica/sandbox")


def test_endpoint_default_pinned_and_validated():
    assert endpoint_path("") == "Default/23.200.001"
    assert endpoint_path("MyEndpoint/1.0") == "MyEndpoint/1.0"
    with pytest.raises(AuthError, match="API EndPoint"):
        endpoint_path("Default")


def test_404_says_how_to_find_a_missing_endpoint(acu_api):
    from integrations.connectors.acumatica.client import AcumaticaNotFound

    acu_api.ok("GET", "/SalesOrder", {"message": "Endpoint not found"}, status=404)
    with pytest.raises(AcumaticaNotFound, match="Test connection” lists the endpoints"):
        make_client().sales_orders_find(order_type="SO", customer_order="1")
