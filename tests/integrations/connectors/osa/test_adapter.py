"""The assumed OSA v1 wire contract: one test per endpoint (what we send, what we read) and the
error classes."""

import base64
from decimal import Decimal

import pytest
import requests
from responses import matchers

from integrations.connectors.osa import adapter as osa
from integrations.exceptions import AuthError, PayloadError, RateLimitedError, TransientError
from integrations.http import RequestBudget

from .conftest import BASE, DOMAIN, KEY, SECRET, load_fixture


@pytest.fixture
def client():
    return osa.OsaAdapterV1(base_url=BASE, api_key=KEY, api_secret=SECRET, domain=DOMAIN, budget=RequestBudget(rate_per_second=0))


def _request():
    product = osa.ProductInfo(sku="SKU-1", name="Blue mug", weight=Decimal("1.200"))
    return osa.ShippingRequestOut(
        reference="SY-5770001-1",
        order_number="5770001",
        shipping_method="OSA_GROUND",
        warehouse_code="OSA-NJ",
        managed_routing=False,
        ship_to=osa.ship_to_from_address(
            {"name": "Ann", "address1": "1 Main St", "city": "Newark", "state": "NJ", "zip": "07101", "country": "US"}
        ),
        lines=(osa.ShippingRequestLineOut(line_ref="1", sku="SKU-1", quantity=2, product=product, unit_price=Decimal("9.50")),),
    )


def test_every_call_carries_basic_auth_domain_and_contract_headers(client, osa_api):
    # given
    osa_api.fixture("GET", "/account", "account__ok.json")
    # when
    account = client.account_get()
    # then
    headers = osa_api.calls_to("/account")[0].request.headers
    assert headers["Authorization"] == "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert headers["X-OSA-Domain"] == DOMAIN and headers["X-OSA-Contract"] == osa.CONTRACT_VERSION
    assert account == osa.Account(domain="acme-uc3", name="Acme Goods", store_id="1042")


def test_order_create_sends_the_documented_payload(client, responses):
    # given
    responses.add(
        "POST",
        f"{BASE}/orders",
        json=load_fixture("orders_create__created.json"),
        status=201,
        match=[matchers.json_params_matcher(load_fixture("orders_create__request.json"))],
    )
    # when
    order = client.order_create(request=_request())
    # then
    assert (order.order_id, order.status, order.number) == ("OSA-000101", "waiting", "1042-SY-5770001-1")


def test_order_create_duplicate_reference_returns_existing_order(client, osa_api):
    # given
    osa_api.fixture("POST", "/orders", "orders_create__duplicate_reference.json", status=409)
    osa_api.fixture("GET", "/orders", "orders_list__by_reference.json")
    # when
    order = client.order_create(request=_request())
    # then
    assert order.order_id == "OSA-000101"
    assert osa_api.calls_to("/orders", "GET")[0].request.params == {"reference": "SY-5770001-1"}


@pytest.mark.parametrize(
    "fixture, code",
    [
        ("orders_create__unknown_sku.json", "unknown_sku"),
        ("orders_create__invalid_shipping_method.json", "invalid_shipping_method"),
    ],
)
def test_order_create_per_record_rejection_is_permanent_with_code(client, osa_api, fixture, code):
    # given
    osa_api.fixture("POST", "/orders", fixture, status=422)
    # when / then
    with pytest.raises(osa.OsaRejected) as info:
        client.order_create(request=_request())
    assert info.value.code == code and info.value.status == 422


@pytest.mark.parametrize("status, fixture", [(401, "error__invalid_credentials.json"), (403, "error__unknown_domain.json")])
def test_auth_errors(client, osa_api, status, fixture):
    # given
    osa_api.fixture("GET", "/account", fixture, status=status)
    # when / then
    with pytest.raises(AuthError) as info:
        client.account_get()
    assert str(status) in str(info.value) and load_fixture(fixture)["error"]["code"] in str(info.value)


def test_rate_limited_carries_retry_after(client, osa_api):
    # given
    osa_api.fixture("GET", "/locations", "error__rate_limited.json", status=429, headers={"Retry-After": "42"})
    # when / then
    with pytest.raises(RateLimitedError) as info:
        client.locations_list()
    assert info.value.retry_after == 42.0


def test_server_error_and_timeout_are_transient(client, osa_api, responses):
    # given
    osa_api.fixture("GET", "/inventory", "error__server.json", status=503)
    responses.add("GET", f"{BASE}/locations", body=requests.ConnectTimeout("slow"))
    # when / then
    with pytest.raises(TransientError):
        client.inventory_list()
    with pytest.raises(TransientError):
        client.locations_list()


def test_order_cancel_too_late_returns_false(client, osa_api):
    # given
    osa_api.fixture("POST", "/orders/OSA-000101/cancel", "order_cancel__already_shipped.json", status=409)
    # when / then
    assert client.order_cancel(order_id="OSA-000101") is False


def test_order_cancel_ok(client, osa_api):
    osa_api.fixture("POST", "/orders/OSA-000101/cancel", "order_cancel__ok.json")
    assert client.order_cancel(order_id="OSA-000101", reason="x") is True


def test_shipments_follow_next_page(client, osa_api):
    # given
    osa_api.mock.add(
        "GET",
        f"{BASE}/shipments",
        json=load_fixture("shipments_list__two_pages_p1.json"),
        match=[matchers.query_param_matcher({"page": "1", "per_page": "100"})],
    )
    osa_api.mock.add(
        "GET",
        f"{BASE}/shipments",
        json=load_fixture("shipments_list__two_pages_p2.json"),
        match=[matchers.query_param_matcher({"page": "2", "per_page": "100"})],
    )
    # when
    shipments = [s for page in osa.iterate(client.shipments_list) for s in page.items]
    # then
    assert [s.shipment_id for s in shipments] == ["SHP-000001", "SHP-000002"]
    assert shipments[1].lines == (osa.ShipmentLine("SKU-1", 1), osa.ShipmentLine("SKU-2", 1))


def test_malformed_shipment_is_a_per_record_payload_error(client, osa_api):
    osa_api.fixture("GET", "/shipments", "shipments_list__malformed.json")
    page = client.shipments_list()
    assert page.items == [] and page.errors[0].field == "tracking_numbers" and page.errors[0].external_id == "SHP-000009"


def test_unknown_order_status_is_a_payload_error():
    with pytest.raises(PayloadError):
        osa.order_from_json(load_fixture("orders_list__unknown_status.json")["orders"][0])


def test_inventory_locations_products_returns_arrivals_receipts(client, osa_api):
    # given
    osa_api.fixture("GET", "/inventory", "inventory_list__one_page.json")
    osa_api.fixture("GET", "/locations", "locations_list__two.json")
    osa_api.fixture("POST", "/products", "products_create__duplicate_sku.json", status=409)
    osa_api.ok("PUT", "/products/SKU-1", {"product": {}})
    osa_api.fixture("POST", "/returns", "returns_create__created.json", status=201)
    osa_api.fixture("GET", "/returns", "returns_list__received.json")
    osa_api.fixture("POST", "/arrivals", "arrivals_create__created.json", status=201)
    osa_api.fixture("GET", "/receipts", "receipts_list__partial.json")
    product = osa.ProductInfo(sku="SKU-1", name="Blue mug")
    # when / then
    assert client.inventory_list().items[0] == osa.RemoteInventory("SKU-1", "OSA-NJ", "warehouse", 20, 25)
    assert [loc.type for loc in client.locations_list().items] == ["warehouse", "managed"]
    assert client.product_create(product=product) is False
    client.product_update(product=product)
    rma = osa.RmaOut(
        reference="SY-RMA-1", order_reference="SY-5770001-1", warehouse_code="OSA-NJ", lines=(osa.RmaLineOut("SKU-1", 1),)
    )
    assert client.return_create(rma=rma) == "RMA-000007"
    assert client.returns_list().items[0].lines == (osa.ShipmentLine("SKU-1", 1),)
    arrival = osa.ArrivalOut(
        reference="PO-1001", type="po", warehouse_code="OSA-NJ", expected_at=None, lines=(osa.ShipmentLine("SKU-1", 10),)
    )
    assert client.arrival_create(arrival=arrival) == "ASN-000003"
    assert client.receipts_list().items[0].arrival_reference == "PO-1001"


def test_reference_from_order_number_strips_store_prefix():
    assert osa.reference_from_order_number("1042-SY-5770001-1", store_id="1042") == "SY-5770001-1"
    assert osa.reference_from_order_number("SY-5770001-1", store_id="1042") == "SY-5770001-1"


def test_asin_products_send_no_weight():
    body = osa.product_to_json(osa.ProductInfo(sku="A", name="a", weight=Decimal("3"), asin="B00X"))
    assert body["asin"] == "B00X" and "weight" not in body


def test_default_budget_is_the_accounts_shared_rate_limit(monkeypatch, responses, settings):
    from integrations import outbound_rate

    slots, pauses = [], []
    monkeypatch.setattr(outbound_rate, "outbound_slot_acquire", lambda **kw: slots.append(kw) or 0.0)
    monkeypatch.setattr(outbound_rate, "outbound_pause", lambda **kw: pauses.append(kw))
    settings.OSA_REQUESTS_PER_MINUTE = 60
    adapter = osa.OsaAdapterV1(base_url=BASE, api_key=KEY, api_secret=SECRET, domain=DOMAIN)
    responses.add("GET", f"{BASE}/orders", status=429, headers={"Retry-After": "5"}, json={"statusCode": 429})
    with pytest.raises(RateLimitedError):
        adapter.order_find(reference="R-1")
    assert slots == [{"key": f"osa:{DOMAIN}", "limit": 60, "per_seconds": 60}]
    assert pauses == [{"key": f"osa:{DOMAIN}", "seconds": 5.0}]


# Issue #11: SKUs in OSA's answers are normalised (catalog/sku.py) where they are parsed, before matching.
LOOKALIKE = "\u200bＳＫＵ-１\u200e\t"


def test_inbound_skus_are_normalised_in_every_parsed_answer():
    inv = osa.inventory_from_json({"sku": LOOKALIKE, "location_code": "OSA-NJ", "fulfillable": 3})
    assert inv.sku == "SKU-1"
    ret = osa.return_from_json({"id": "R1", "reference": "RMA-1", "lines": [{"sku": LOOKALIKE, "received_quantity": 1}]})
    assert [line.sku for line in ret.lines] == ["SKU-1"]
    rec = osa.receipt_from_json({"id": "C1", "lines": [{"sku": LOOKALIKE, "quantity": 2}]})
    assert [(line.sku, line.quantity) for line in rec.lines] == [("SKU-1", 2)]
    shipment = osa.shipment_from_json(
        {"id": "S1", "order_id": "O1", "reference": "SY-1-1", "lines": [{"sku": LOOKALIKE, "quantity": 1}]}
    )
    assert [line.sku for line in shipment.lines] == ["SKU-1"]


def test_inbound_sku_that_is_only_invisible_characters_is_a_payload_error():
    with pytest.raises(PayloadError):
        osa.inventory_from_json({"sku": "\u200b\u200e", "location_code": "OSA-NJ", "fulfillable": 3})
    with pytest.raises(PayloadError):
        osa.receipt_from_json({"id": "C1", "lines": [{"sku": "\ufeff", "quantity": 2}]})
