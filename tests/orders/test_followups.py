"""Follow-ups on the orders core: a new order that arrives already cancelled keeps the channel's
cancellation source, reason and id (fully or some lines)."""
from dataclasses import replace
from decimal import Decimal

import pytest

from orders import services
from orders.interface import CancellationIn, OrderLineIn, QuantityLineIn
from orders.models import Cancellation, CancellationLine, Order
from tests.orders import factories as f

pytestmark = pytest.mark.django_db


def test_new_fully_cancelled_order_keeps_the_channel_source_and_reason(shop, sku_a):
    # given an order seen for the first time already cancelled by the buyer
    data = f.order_in(status="canceled", channel_status="CANCELLED", cancellations=(
        CancellationIn(source="buyer", reason="Buyer changed mind", external_id="O-1:order", is_full=True),))
    # when it is upserted
    services.orders_upsert_from_channel(integration=shop, orders_in=[data])
    # then one cancellation with the channel's source, reason and id
    order = Order.objects.get()
    assert order.status == "canceled"
    assert list(Cancellation.objects.values_list("order", "source", "reason", "external_id", "is_full", "status")) == [
        (order.pk, "buyer", "Buyer changed mind", "O-1:order", True, "completed")]


def test_new_cancelled_order_without_channel_detail_falls_back_to_platform(shop, sku_a):
    # given a channel that reports no cancellation detail
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="canceled", channel_status="CANCELLED")])
    # then the old behaviour: platform, channel status as reason, no external id
    assert list(Cancellation.objects.values_list("source", "reason", "external_id")) == [("platform", "CANCELLED", "")]


def test_new_order_with_a_cancelled_line_records_that_line_cancellation(shop, wh, sku_a, sku_b):
    # given a new order where one unit of A was cancelled by the seller before we saw it
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])
    data = f.order_in(lines=(), cancellations=(CancellationIn(
        source="seller", reason="seller_cancel_reason_out_of_stock", external_id="O-1:line:L2", is_full=False,
        lines=(QuantityLineIn(sku="A", quantity=1, external_line_id="L2"),)),))
    data = replace(data, lines=(
        OrderLineIn(sku="A", quantity=2, unit_price=Decimal("10.00"), canceled_quantity=1),
        OrderLineIn(sku="B", quantity=1, unit_price=Decimal("10.00"))))
    # when it is upserted (twice: a re-pull)
    services.orders_upsert_from_channel(integration=shop, orders_in=[data])
    services.orders_upsert_from_channel(integration=shop, orders_in=[data])
    # then the order proceeds and one partial cancellation with the seller's reason is kept
    order = Order.objects.get()
    assert order.status != "canceled"
    assert order.lines.get(sku="A").canceled_quantity == 1
    assert list(Cancellation.objects.values_list("source", "reason", "external_id", "is_full")) == [
        ("seller", "seller_cancel_reason_out_of_stock", "O-1:line:L2", False)]
    assert list(CancellationLine.objects.values_list("sku", "quantity", "order_line__sku")) == [("A", 1, "A")]


def test_existing_order_cancelled_by_update_uses_the_channel_cancellation(shop, sku_a):
    # given an existing order
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    # when the channel reports it cancelled by the buyer
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(
        status="canceled", channel_status="CANCELLED",
        cancellations=(CancellationIn(source="buyer", reason="Too slow", external_id="O-1:order"),))])
    # then the cancellation carries the buyer's reason
    assert Order.objects.get().status == "canceled"
    assert list(Cancellation.objects.values_list("source", "reason", "external_id")) == [("buyer", "Too slow", "O-1:order")]
