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


# --- push_refunds then pull_refunds: one Refund row ---

REFUND_ORDER_ID = "576461413038785001"
RETURN_ID = "4035318504086820001"


@pytest.fixture
def local_refund(tiktok_integration):
    from decimal import Decimal

    from catalog.models import ChannelOption, Product
    from orders.models import OrderLine, Refund, RefundLine

    order = Order.objects.create(integration=tiktok_integration, external_id=REFUND_ORDER_ID, status="delivered",
                                 channel_status="DELIVERED")
    product = Product.objects.create(sku="TEE-RED-M", name="Tee red")
    ChannelOption.objects.create(product=product, integration=tiktok_integration, remote_sku_id="1729592969712207013")
    OrderLine.objects.create(order=order, sku="TEE-RED-M", quantity=2, channel_line_ids=["577001", "577002"])
    refund = Refund.objects.create(order=order, integration=tiktok_integration, status="pending", amount=Decimal("39.98"))
    RefundLine.objects.create(refund=refund, sku="TEE-RED-M", quantity=2, amount=Decimal("39.98"))
    return refund


def _returns_search_with_only_our_return() -> dict:
    data = copy.deepcopy(load_fixture("catalog/returns_search__two.json")["data"])
    data["return_orders"] = [r for r in data["return_orders"] if r["return_id"] == RETURN_ID]
    data["total_count"] = 1
    return data


def test_pushed_refund_then_pulled_is_one_refund_row(tiktok_integration, tiktok_api, local_refund):
    from integrations.connectors.tiktok import endpoints_catalog as ep
    from integrations.models import OutboundPush
    from orders.models import Refund

    # given TikTok accepts our refund as return RETURN_ID, and its returns search then lists that return
    tiktok_api.ok("POST", ep.PATH_RETURN_CREATE, data={"return_id": RETURN_ID})
    tiktok_api.ok("POST", ep.PATH_RETURNS_SEARCH, data=_returns_search_with_only_our_return())
    # when we push refunds, then pull refunds
    push = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_refunds"))
    local_refund.refresh_from_db()
    bound_id = local_refund.external_id
    pull = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="pull_refunds"))
    # then the push bound the TikTok id to our refund and the pull updated that same row
    assert (push.status, push.created) == ("succeeded", 1), push.errors
    assert pull.status == "succeeded", pull.errors
    assert bound_id == RETURN_ID
    assert OutboundPush.objects.get(kind="tiktok_refund").remote_id == RETURN_ID
    assert list(Refund.objects.values_list("pk", "external_id", "status", "amount")) == [
        (local_refund.pk, RETURN_ID, "RETURN_OR_REFUND_REQUEST_COMPLETE", local_refund.amount)]
    assert len(tiktok_api.calls_to(ep.PATH_RETURN_CREATE)) == 1


def test_push_does_not_bind_an_id_another_refund_already_has(tiktok_integration, tiktok_api, local_refund):
    from integrations.connectors.tiktok import endpoints_catalog as ep
    from orders.models import Refund

    # given a refund of this integration already carries the id TikTok answers with
    other = Refund.objects.create(integration=tiktok_integration, external_id=RETURN_ID, status="pending")
    tiktok_api.ok("POST", ep.PATH_RETURN_CREATE, data={"return_id": RETURN_ID})
    # when we push
    push = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_refunds"))
    # then the push is sent but our refund keeps no id (the unique id stays on the other row)
    local_refund.refresh_from_db()
    assert push.status == "succeeded", push.errors
    assert local_refund.external_id == ""
    assert Refund.objects.get(external_id=RETURN_ID).pk == other.pk


# --- product push dry run ---

def test_product_push_dry_run_creates_no_channel_options(tiktok_integration, tiktok_api):
    from decimal import Decimal

    from catalog.models import ChannelOption, Product
    from integrations.connectors.tiktok import endpoints_catalog as ep
    from integrations.models import OutboundPush

    # given a product never pushed (no Channel Option yet), one with an existing option, and a US shop
    category = "601226"
    tiktok_api.fixture("GET", ep.PATH_CATEGORY_ATTRIBUTES.format(category_id=category), "catalog/category_attributes__tshirts.json")
    tiktok_api.fixture("GET", ep.PATH_CATEGORY_RULES.format(category_id=category), "catalog/category_rules__none_required.json")
    fresh = Product.objects.create(sku="MUG-1", name="Stoneware mug with a glazed finish for coffee", category=category,
                                   description_html="<p>Stoneware.</p>", images=["https://cdn.example/mug.jpg"],
                                   price=Decimal("12.00"), weight=Decimal("0.80"), weight_unit="lb")
    known = Product.objects.create(sku="MUG-2", name="Stoneware mug with a matte finish for tea", category=category,
                                   description_html="<p>Stoneware.</p>", images=["https://cdn.example/mug2.jpg"],
                                   price=Decimal("12.00"), weight=Decimal("0.80"), weight_unit="lb")
    ChannelOption.objects.create(product=known, integration=tiktok_integration)
    before = list(ChannelOption.objects.values_list("pk", "product_id", "readiness_problems", "last_pushed_fingerprint"))
    # when a dry run of the product push runs
    sync = services.flow_run(flow_state=tiktok_integration.flow_states.get(flow="push_products"), dry_run=True)
    # then it reports both products and leaves the Channel Options exactly as they were
    assert sync.status == "succeeded", sync.errors
    assert sync.fetched == 2
    assert list(ChannelOption.objects.values_list("pk", "product_id", "readiness_problems", "last_pushed_fingerprint")) == before
    assert not ChannelOption.objects.filter(product=fresh).exists()
    assert tiktok_api.calls_to(ep.PATH_PRODUCTS) == [] and not OutboundPush.objects.exists()
