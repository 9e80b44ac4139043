"""The functions connectors call (orders/CONTRACT.md), end to end."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import OpsException
from inventory.models import InventoryLevel
from orders import selectors, services
from orders.interface import CancellationIn, FulfillmentIn, QuantityLineIn, RefundIn, ReturnIn
from orders.models import Order, OrderEvent, ShippingRequest
from tests.orders import factories as f


@pytest.fixture
def routed_setup(shop, wh, sku_a, sku_b):
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("all to east", [wh])


def test_upsert_creates_ready_order_routed_to_a_shipping_request(shop, wh, sku_a, routed_setup):
    # when
    result = services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 2),))])
    # then
    order = Order.objects.get(integration=shop, external_id="O-1")
    assert (result.created, result.updated, result.unchanged) == (1, 0, 0)
    assert order.status == "readyForFulfillment"
    sr = order.shipping_requests.get()
    assert sr.reference == f"SY-{order.pk}-1"
    assert [(ln.sku, ln.quantity) for ln in sr.lines.all()] == [("A", 2)]
    level = InventoryLevel.objects.get(product=sku_a, location=wh)
    assert (level.on_hand, level.committed, level.available) == (10, 2, 8)
    assert list(selectors.shipping_requests_to_send(integration=wh.integration)) == [sr]


def test_upsert_is_idempotent(shop, routed_setup):
    data = [f.order_in(lines=(("A", 2),))]
    services.orders_upsert_from_channel(integration=shop, orders_in=data)
    # when
    result = services.orders_upsert_from_channel(integration=shop, orders_in=data)
    # then
    assert (result.created, result.updated, result.unchanged) == (0, 0, 1)
    assert ShippingRequest.objects.count() == 1
    assert InventoryLevel.objects.get(product__sku="A").committed == 2


def test_upsert_merges_per_unit_lines_by_sku(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 1), ("A", 1), ("B", 1)))])
    order = Order.objects.get()
    assert sorted((ln.sku, ln.quantity) for ln in order.lines.all()) == [("A", 2), ("B", 1)]


def test_malformed_order_is_reported_and_nothing_is_written(shop, routed_setup):
    result = services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 0),)),
                                                                               f.order_in("O-2", status="bogus"),
                                                                               f.order_in("O-3", lines=())])
    assert [e["external_id"] for e in result.errors] == ["O-1", "O-2", "O-3"]
    assert Order.objects.count() == 0


def test_unknown_sku_keeps_order_in_review_with_one_exception(shop, routed_setup):
    data = [f.order_in(lines=(("NOPE", 1),))]
    services.orders_upsert_from_channel(integration=shop, orders_in=data)
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("NOPE", 1),), buyer_message="x")])
    order = Order.objects.get()
    assert order.status == "reviewRequired"
    exc = OpsException.objects.get()
    assert (exc.category, exc.code, exc.cause_key, exc.count, exc.status) == ("ingestion", "unknown_sku", "sku:NOPE", 2, "open")
    assert ShippingRequest.objects.count() == 0


def test_reingest_with_known_sku_resolves_unknown_sku_exception(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("NEW", 1),))])
    f.stock(ShippingRequest._meta.get_field("location").related_model.objects.get(code="wh-east"), f.product("NEW"), 3)
    # when the channel sends the order again (changed)
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("NEW", 1),), buyer_message="hi")])
    # then
    order = Order.objects.get()
    assert OpsException.objects.get().status == "resolved"
    assert order.status == "readyForFulfillment"
    assert order.shipping_requests.count() == 1


def test_channel_on_hold_keeps_order_held_until_released(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="onHold", channel_status="ON_HOLD")])
    order = Order.objects.get()
    assert (order.status, order.channel_hold) == ("onHold", True)
    assert services.orders_release_due(now=timezone.now() + timedelta(days=1)) == 0
    # when TikTok releases it
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="new")])
    order.refresh_from_db()
    assert (order.status, order.channel_hold) == ("readyForFulfillment", False)
    assert order.shipping_requests.count() == 1


def test_platform_fulfilled_order_never_creates_shipping_requests(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="fulfilled", fulfillment_type="platform")])
    order = Order.objects.get()
    assert order.status == "fulfilled"
    assert ShippingRequest.objects.count() == 0


def test_mark_sent_moves_request_and_order(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    sr = ShippingRequest.objects.get()
    services.shipping_request_mark_sent(shipping_request=sr, external_id="OSA-9", remote_status="open")
    services.shipping_request_mark_sent(shipping_request=sr, external_id="OSA-9", remote_status="open")
    sr.refresh_from_db()
    assert (sr.status, sr.external_id) == ("sentToFulfillment", "OSA-9")
    assert Order.objects.get().status == "sentToFulfillment"
    assert list(selectors.shipping_requests_to_send(integration=sr.integration)) == []
    assert OrderEvent.objects.filter(kind="status", to_status="sentToFulfillment").count() == 1


def test_mark_rejected_is_visible_and_redrive_resends(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(shipping_method="Teleport")])
    sr = ShippingRequest.objects.get()
    services.shipping_request_mark_rejected(shipping_request=sr, message="unknown ship method Teleport", code="unknown_shipping_method")
    sr.refresh_from_db()
    exc = OpsException.objects.get()
    assert sr.status == "failed"
    assert (exc.category, exc.code, exc.cause_key) == ("fulfillment", "unknown_shipping_method", f"shipping_method:{sr.integration_id}:Teleport")
    # when
    assert services.exceptions_redrive(exceptions=[exc]) == 1
    # then
    sr.refresh_from_db()
    assert sr.status == "readyForFulfillment"
    assert list(selectors.shipping_requests_to_send(integration=sr.integration)) == [sr]


def test_fulfillment_record_partial_then_full_and_idempotent(shop, routed_setup, wh, sku_a):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 3),))])
    sr = ShippingRequest.objects.get()
    services.shipping_request_mark_sent(shipping_request=sr, external_id="X1")
    # when 1 of 3 ships
    _, created = services.fulfillment_record(integration=sr.integration, shipping_request=sr,
                                             fulfillment=FulfillmentIn(external_id="F1", carrier="UPS", tracking_numbers=("1Z",),
                                                                       lines=(QuantityLineIn(sku="A", quantity=1),)))
    again = services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F1"))
    # then
    assert created is True and again[1] is False
    assert Order.objects.get().status == "partialFulfillment"
    level = InventoryLevel.objects.get(product=sku_a, location=wh)
    assert (level.on_hand, level.committed, level.available) == (9, 2, 7)
    # when the rest ships (empty lines = everything left)
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F2"))
    sr.refresh_from_db()
    level.refresh_from_db()
    assert sr.status == "fulfilled"
    assert Order.objects.get().status == "fulfilled"
    assert (level.on_hand, level.committed, level.available) == (7, 0, 7)
    assert [f.external_id for f in selectors.fulfillments_to_push(channel_integration=shop)] == ["F2", "F1"] or \
        sorted(f.external_id for f in selectors.fulfillments_to_push(channel_integration=shop)) == ["F1", "F2"]


def test_order_cancel_is_selected_for_push(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    cancellation = services.order_cancel(order=order, reason="customer asked")
    order.refresh_from_db()
    assert order.status == "canceled"
    assert list(selectors.cancellations_to_push(integration=shop)) == [cancellation]
    assert ShippingRequest.objects.get().status == "canceledRestock"
    assert InventoryLevel.objects.get(product__sku="A").committed == 0


def test_returns_and_refunds_upsert(shop, routed_setup):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="delivered", fulfillment_type="platform")])
    r1 = services.returns_upsert(integration=shop, returns_in=[ReturnIn(external_id="R1", order_external_id="O-1", status="completed",
                                                                       lines=(QuantityLineIn(sku="A", quantity=1),))])
    r2 = services.returns_upsert(integration=shop, returns_in=[ReturnIn(external_id="R1", order_external_id="O-1", status="completed",
                                                                       lines=(QuantityLineIn(sku="A", quantity=1),))])
    bad = services.returns_upsert(integration=shop, returns_in=[ReturnIn(external_id="R2", order_external_id="NOPE", status="x")],
                                  require_order=True)
    assert (r1.created, r2.unchanged, len(bad.errors)) == (1, 1, 1)
    assert Order.objects.get().status == "returned"
    rf = services.refunds_upsert(integration=shop, refunds_in=[RefundIn(external_id="RF1", order_external_id="O-1", status="completed",
                                                                       return_external_id="R1")])
    assert rf.created == 1
    assert Order.objects.get().status == "refunded"


def test_page_of_new_held_orders_uses_bounded_queries(shop, sku_a, django_assert_max_num_queries):
    from orders.models import HoldRule

    HoldRule.objects.create(name="h", integration=shop, minutes=60, clock="sync_time")
    page = [f.order_in(f"P-{i}", lines=(("A", 1), ("NOPE" if i == 0 else "A", 1))) for i in range(50)]
    with django_assert_max_num_queries(25):
        result = services.orders_upsert_from_channel(integration=shop, orders_in=page)
    assert result.created == 50
    assert Order.objects.filter(status="onHold").count() == 49
    assert Order.objects.filter(status="reviewRequired").count() == 1
    # and an unchanged page is cheap too
    with django_assert_max_num_queries(8):
        assert services.orders_upsert_from_channel(integration=shop, orders_in=page).unchanged == 50
