"""Hold rules: matching, timing (order time vs sync time, exact minutes), release, re-hold, edits while held."""
from datetime import timedelta

import pytest
from django.utils import timezone

from orders import services
from orders.interface import CancellationIn
from orders.models import HoldRule, Order, ShippingRequest
from tests.orders import factories as f


@pytest.fixture
def stocked(shop, wh, sku_a, sku_b):
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])


def test_tiktok_rule_exists_by_default(db):
    rule = HoldRule.objects.get(name="TikTok 60-minute edit window")
    assert (rule.connector, rule.minutes, rule.clock, rule.next_status) == ("tiktok", 60, "order_time", "readyForFulfillment")


def test_hold_from_order_time_releases_at_exact_minute(shop, stocked):
    HoldRule.objects.create(name="h", integration=shop, minutes=60, clock="order_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(minutes_ago=10)])
    order = Order.objects.get()
    assert order.status == "onHold"
    assert order.hold_until == order.ordered_at + timedelta(minutes=60)
    # one second early: still held
    assert services.orders_release_due(now=order.hold_until - timedelta(seconds=1)) == 0
    assert Order.objects.get().status == "onHold"
    # at the minute: released and routed
    assert services.orders_release_due(now=order.hold_until) == 1
    order.refresh_from_db()
    assert (order.status, order.hold_until) == ("readyForFulfillment", None)
    assert order.shipping_requests.count() == 1
    assert order.events.filter(to_status="readyForFulfillment", actor="hold rule h").exists()


def test_hold_from_sync_time_starts_when_received(shop, stocked):
    HoldRule.objects.create(name="h", integration=shop, minutes=30, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(minutes_ago=120)])
    order = Order.objects.get()
    assert order.status == "onHold"
    assert order.hold_until == order.created_at + timedelta(minutes=30)


def test_order_time_hold_already_over_goes_straight_on(shop, stocked):
    HoldRule.objects.create(name="h", integration=shop, minutes=60, clock="order_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(minutes_ago=61)])
    assert Order.objects.get().status == "readyForFulfillment"


def test_rule_filters_tags_skus_order_type_and_priority(shop, stocked):
    HoldRule.objects.create(name="vip", priority=1, tags=["vip"], minutes=5, clock="sync_time")
    HoldRule.objects.create(name="b-only", priority=2, skus=["B"], minutes=7, clock="sync_time")
    HoldRule.objects.create(name="preorder", priority=3, order_types=["preorder"], minutes=9, clock="sync_time")
    HoldRule.objects.create(name="disabled", priority=0, minutes=99, enabled=False)
    services.orders_upsert_from_channel(integration=shop, orders_in=[
        f.order_in("1", tags=("vip",)), f.order_in("2", lines=(("B", 1),)), f.order_in("3", order_type="preorder"), f.order_in("4")])
    held = {o.external_id: o.held_by_rule.name if o.held_by_rule else None for o in Order.objects.all()}
    assert held == {"1": "vip", "2": "b-only", "3": "preorder", "4": None}
    assert Order.objects.get(external_id="4").status == "readyForFulfillment"


def test_review_required_next_status_needs_manual_release(shop, stocked, admin_user):
    HoldRule.objects.create(name="manual", minutes=1, clock="sync_time", next_status="reviewRequired")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    services.orders_release_due(now=order.hold_until)
    order.refresh_from_db()
    assert order.status == "reviewRequired"
    assert ShippingRequest.objects.count() == 0
    services.order_release_hold(order=order, user=admin_user)
    order.refresh_from_db()
    assert order.status == "readyForFulfillment"
    assert order.events.filter(to_status="readyForFulfillment", user=admin_user).exists()


def test_user_release_and_rehold(shop, stocked, admin_user):
    HoldRule.objects.create(name="h", minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    services.order_release_hold(order=order, user=admin_user)
    order.refresh_from_db()
    assert order.shipping_requests.get().status == "readyForFulfillment"
    # when re-held
    services.order_rehold(order=order, user=admin_user)
    order.refresh_from_db()
    assert (order.status, order.hold_until) == ("onHold", None)
    assert order.shipping_requests.get().status == "canceledRestock"
    assert services.orders_release_due(now=timezone.now() + timedelta(days=365)) == 0


def test_rehold_refused_after_sent(shop, stocked, admin_user):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    services.shipping_request_mark_sent(shipping_request=order.shipping_requests.get(), external_id="X")
    order.refresh_from_db()
    with pytest.raises(services.OrderActionError):
        services.order_rehold(order=order, user=admin_user)
    assert Order.objects.get().status == "sentToFulfillment"


def test_edits_while_held_are_applied_before_routing(shop, stocked):
    HoldRule.objects.create(name="h", minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 1),))])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 2), ("B", 1)))])
    order = Order.objects.get()
    services.orders_release_due(now=order.hold_until)
    sr = order.shipping_requests.get()
    assert sorted((ln.sku, ln.quantity) for ln in sr.lines.all()) == [("A", 2), ("B", 1)]


def test_cancellation_while_held_means_nothing_is_routed(shop, stocked):
    HoldRule.objects.create(name="h", minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="canceled", channel_status="CANCELLED")])
    order = Order.objects.get()
    assert services.orders_release_due(now=timezone.now() + timedelta(hours=2)) == 0
    assert order.status == "canceled" or Order.objects.get().status == "canceled"
    assert ShippingRequest.objects.count() == 0


def test_release_command_releases_due_orders(shop, stocked):
    from io import StringIO

    from django.core.management import call_command

    HoldRule.objects.create(name="h", minutes=60, clock="order_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(minutes_ago=59)])
    Order.objects.update(hold_until=timezone.now() - timedelta(seconds=1))
    out = StringIO()
    call_command("orders_release_holds", stdout=out)
    assert out.getvalue().strip() == "1 order(s) released"
    assert Order.objects.get().status == "readyForFulfillment"
