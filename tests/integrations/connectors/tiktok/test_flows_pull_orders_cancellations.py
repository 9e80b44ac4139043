"""pull_orders and TikTok line cancellations arriving one after another for the same SKU (issue #10, defect 6)."""
import copy

import pytest

from integrations import services
from integrations.connectors.tiktok import constants as c
from orders import services as order_services
from orders.models import Cancellation, Order, ShippingRequest
from tests.integrations.connectors.tiktok.conftest import envelope, load_fixture
from tests.orders import factories as f

pytestmark = pytest.mark.django_db

ORDER_ID = "576812345678901234"


@pytest.fixture(autouse=True)
def three_pl_connector():
    f.register()
    yield
    f.unregister()


@pytest.fixture
def stocked(db):
    tpl = f.three_pl()
    wh = f.location(tpl, "wh-east")
    for sku in ("TEE-BLK-L", "CAP-RED"):
        f.stock(wh, f.product(sku), 50)
    f.rule("all to east", [wh])
    return wh


def _standard():
    return copy.deepcopy(load_fixture("orders_detail__standard.json")["data"]["orders"][0])


def _with_cancelled(*item_ids, bump: int):
    order = _standard()
    order["update_time"] += bump
    for item in order["line_items"]:
        if item["id"] in item_ids:
            item.update(display_status="CANCELLED", cancel_user="BUYER", cancel_reason="changed mind")
    return order


def _pull(integration, tiktok_api, raw):
    tiktok_api.mock.replace("GET", tiktok_api._url(c.PATH_ORDERS_DETAIL), json=envelope({"orders": [raw]}))
    return services.flow_run(flow_state=integration.flow_states.get(flow="pull_orders"), params={"order_ids": [ORDER_ID]})


def test_second_line_cancellation_of_the_same_sku_reaches_the_3pl(tiktok_integration, tiktok_api, stocked):
    # given: the order (2 × TEE-BLK-L, 1 × CAP-RED) routed and sent to the 3PL
    services.integration_update_settings(integration=tiktok_integration, values={
        **tiktok_integration.settings, "orders_exclude_before": "2025-01-01T00:00:00+00:00"})
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [_standard()]})
    services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="pull_orders"), params={"order_ids": [ORDER_ID]})
    order = Order.objects.get()
    first = order.shipping_requests.get()
    order_services.shipping_request_mark_sent(shipping_request=first, external_id="OSA-1")
    # and: the buyer cancels the first tee line item; the 3PL confirms; the rest is routed again and sent
    _pull(tiktok_integration, tiktok_api, _with_cancelled("576812345678911111", bump=60))
    order_services.shipping_request_cancel_confirmed(shipping_request=ShippingRequest.objects.get(pk=first.pk))
    second = order.shipping_requests.exclude(pk=first.pk).get()
    assert sorted((ln.sku, ln.quantity) for ln in second.lines.all()) == [("CAP-RED", 1), ("TEE-BLK-L", 1)]
    order_services.shipping_request_mark_sent(shipping_request=second, external_id="OSA-2")
    # when: the buyer cancels the other tee too (TikTok lists both tee line items cancelled, the known one first)
    _pull(tiktok_integration, tiktok_api, _with_cancelled("576812345678911111", "576812345678911112", bump=120))
    _pull(tiktok_integration, tiktok_api, _with_cancelled("576812345678911111", "576812345678911112", bump=120))  # re-run
    # then: the second cancellation is recorded and applied once, and the 3PL is asked to cancel the request holding it
    order = Order.objects.get()
    assert order.lines.get(sku="TEE-BLK-L").canceled_quantity == 2
    assert sorted(Cancellation.objects.values_list("external_id", flat=True)) == [
        f"{ORDER_ID}:line:576812345678911111", f"{ORDER_ID}:line:576812345678911112"]
    second.refresh_from_db()
    assert second.cancel_state == "requested"
    # and once the 3PL confirms, only the cap is routed again
    order_services.shipping_request_cancel_confirmed(shipping_request=second)
    third = order.shipping_requests.exclude(pk__in=[first.pk, second.pk]).get()
    assert [(ln.sku, ln.quantity) for ln in third.lines.all()] == [("CAP-RED", 1)]
