"""TikTok follow-ups: cancellation source/reason on orders first seen cancelled; push-then-pull refunds
make one Refund; a product push dry run creates nothing."""
import copy

import pytest

from integrations import services
from integrations.connectors.tiktok import constants as c
from orders.models import Cancellation, Order
from tests.integrations.connectors.tiktok.conftest import load_fixture
from tests.orders import factories as f

pytestmark = pytest.mark.django_db

SINCE_2025 = "2025-01-01T00:00:00+00:00"


@pytest.fixture
def stocked(db):
    f.register()
    tpl = f.three_pl()
    wh = f.location(tpl, "wh-east")
    for sku in ("TEE-BLK-L", "CAP-RED"):
        f.stock(wh, f.product(sku), 50)
    f.rule("all to east", [wh])
    yield wh
    f.unregister()


def raw(name: str) -> dict:
    return copy.deepcopy(load_fixture(f"orders_detail__{name}.json")["data"]["orders"][0])


def pull_orders(integration, tiktok_api, order):
    services.integration_update_settings(integration=integration, values={**integration.settings,
                                                                          "orders_exclude_before": SINCE_2025})
    integration.refresh_from_db()
    tiktok_api.ok("GET", c.PATH_ORDERS_DETAIL, data={"orders": [order]})
    return services.flow_run(flow_state=integration.flow_states.get(flow="pull_orders"), params={"order_ids": [order["id"]]})


def test_order_first_seen_cancelled_keeps_tiktok_source_and_reason(tiktok_integration, tiktok_api, stocked):
    # when an order is pulled for the first time already cancelled by the buyer, then pulled again
    run = pull_orders(tiktok_integration, tiktok_api, raw("cancelled"))
    pull_orders(tiktok_integration, tiktok_api, raw("cancelled"))
    # then one cancellation with TikTok's initiator and reason (not "platform" / the status)
    assert run.status == "succeeded", run.errors
    order = Order.objects.get()
    assert order.status == "canceled"
    assert list(Cancellation.objects.values_list("order", "source", "reason", "external_id", "is_full")) == [
        (order.pk, "buyer", "Buyer changed mind", "576812345678901234:order", True)]


def test_order_first_seen_with_a_cancelled_line_keeps_that_cancellation(tiktok_integration, tiktok_api, stocked):
    # when an order is pulled for the first time with one line item cancelled by the seller, then again
    run = pull_orders(tiktok_integration, tiktok_api, raw("line_cancelled"))
    pull_orders(tiktok_integration, tiktok_api, raw("line_cancelled"))
    # then the line is cancelled once and the cancellation keeps TikTok's source, reason and line id
    assert run.status == "succeeded", run.errors
    order = Order.objects.get()
    assert order.lines.get(sku="TEE-BLK-L").canceled_quantity == 1
    assert list(Cancellation.objects.values_list("source", "reason", "external_id", "is_full")) == [
        ("seller", "seller_cancel_reason_out_of_stock", "576812345678901234:line:576812345678911112", False)]
    assert list(Cancellation.objects.get().lines.values_list("sku", "quantity")) == [("TEE-BLK-L", 1)]
