"""Hand edits of an order: address (while not sent), tags, hold — validated first, timeline entry, nothing changed on refusal."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import OpsException
from orders.models import HoldRule, Order, OrderEvent, ShippingRequest
from orders.services import (OrderActionError, order_set_hold, order_set_tags, order_update_address,
                             orders_upsert_from_channel, shipping_request_mark_sent)
from tests.orders import factories as f

pytestmark = pytest.mark.django_db

NEW_ADDRESS = {"name": "Jo Doe", "phone": "555", "address1": "1 Main St", "address2": "", "city": "Austin", "state": "TX",
               "postal_code": "78701", "country_code": "US"}


@pytest.fixture
def ready(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("all", [wh])
    orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("O-1", shipping_address={
        "name": "J***", "address1": "1** Main", "city": "Austin", "country_code": "US", "full_address": "1** Main, Austin"})])
    return Order.objects.get(external_id="O-1")


def test_address_correction_writes_fields_and_a_timeline_entry(ready, admin_user):
    order_update_address(order=ready, address=NEW_ADDRESS, user=admin_user)
    order = Order.objects.get(pk=ready.pk)
    assert order.shipping_address["address1"] == "1 Main St"
    assert order.shipping_address["postal_code"] == "78701"
    assert "full_address" not in order.shipping_address
    event = OrderEvent.objects.get(order=order, kind="address_changed")
    assert event.actor == f"user {admin_user.get_username()}" and event.user == admin_user
    assert "address1" in event.message and "postal_code" in event.message


@pytest.mark.parametrize(("address", "error"), [
    ({**NEW_ADDRESS, "address1": ""}, "missing street address"),  # _case_no_street
    ({**NEW_ADDRESS, "country_code": ""}, "missing country"),  # _case_no_country
    ({k: "" for k in NEW_ADDRESS}, "missing street address"),  # _case_blank
    ({**NEW_ADDRESS, "evil": "x"}, "unknown address field"),  # _case_unknown_key
])
def test_bad_address_is_refused_and_changes_nothing(ready, admin_user, address, error):
    before = dict(ready.shipping_address)
    with pytest.raises(OrderActionError, match=error):
        order_update_address(order=ready, address=address, user=admin_user)
    assert Order.objects.get(pk=ready.pk).shipping_address == before
    assert not OrderEvent.objects.filter(kind="address_changed").exists()


def test_address_cannot_change_once_sent(ready, admin_user):
    sr = ShippingRequest.objects.get(order=ready)
    shipping_request_mark_sent(shipping_request=sr, external_id="R-1")
    before = dict(Order.objects.get(pk=ready.pk).shipping_address)
    with pytest.raises(OrderActionError, match="sent to fulfillment"):
        order_update_address(order=ready, address=NEW_ADDRESS, user=admin_user)
    assert Order.objects.get(pk=ready.pk).shipping_address == before


def test_address_completed_here_releases_a_bad_address_order(shop, wh, sku_a, admin_user):
    f.stock(wh, sku_a, 10)
    f.rule("all", [wh])
    orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("O-9", shipping_address={"name": "Jo", "city": "Austin"})])
    order = Order.objects.get(external_id="O-9")
    assert order.review_reason == "bad_address"
    order_update_address(order=order, address=NEW_ADDRESS, user=admin_user)
    order = Order.objects.get(pk=order.pk)
    assert order.status == "readyForFulfillment" and order.review_reason == ""
    assert OpsException.objects.get(code="bad_address").status == "resolved"
    assert ShippingRequest.objects.filter(order=order).count() == 1


def test_tags_replace_with_timeline(ready, admin_user):
    order_set_tags(order=ready, tags="vip, gift ,vip,", user=admin_user)
    order = Order.objects.get(pk=ready.pk)
    assert order.tags == ["vip", "gift"]
    assert OrderEvent.objects.get(kind="tags_changed").message == "tags added vip, gift"
    order_set_tags(order=order, tags=["gift"], user=admin_user)
    assert Order.objects.get(pk=ready.pk).tags == ["gift"]
    assert OrderEvent.objects.filter(kind="tags_changed").last().message == "tags removed vip"


@pytest.mark.parametrize("tags", ["x" * 41, "<b>", "a\tb"])
def test_bad_tags_refused(ready, admin_user, tags):
    with pytest.raises(OrderActionError):
        order_set_tags(order=ready, tags=tags, user=admin_user)
    assert Order.objects.get(pk=ready.pk).tags == []
    assert not OrderEvent.objects.filter(kind="tags_changed").exists()


def test_hold_of_a_held_order_moves_its_until_date(shop, sku_a, admin_user):
    HoldRule.objects.create(name="h", minutes=60, clock="sync_time")
    orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    until = timezone.now() + timedelta(hours=5)
    order_set_hold(order=order, until=until, user=admin_user)
    order = Order.objects.get()
    assert order.status == "onHold" and order.hold_until == until and order.held_by_rule is None
    assert OrderEvent.objects.filter(kind="hold_changed").count() == 1
    order_set_hold(order=order, until=None, user=admin_user)
    assert Order.objects.get().hold_until is None


def test_hold_of_a_ready_order_reholds_and_restocks(ready, admin_user):
    until = timezone.now() + timedelta(hours=2)
    order_set_hold(order=ready, until=until, user=admin_user)
    order = Order.objects.get(pk=ready.pk)
    assert order.status == "onHold" and order.hold_until == until
    assert ShippingRequest.objects.get(order=order).status == "canceledRestock"


def test_hold_in_the_past_refused(ready, admin_user):
    with pytest.raises(OrderActionError, match="future"):
        order_set_hold(order=ready, until=timezone.now() - timedelta(minutes=1), user=admin_user)
    assert Order.objects.get(pk=ready.pk).status == "readyForFulfillment"
