"""Status changes name the state they expect: a move decided on a copy read earlier is refused (or re-decided
from the row's current state), never applied over a newer state. Stale copies simulate what another worker did
in between (the PostgreSQL two-thread versions are in test_concurrency_pg.py)."""
from datetime import timedelta

import pytest
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import InventoryLevel
from orders import selectors, services
from orders.interface import CancellationIn, FulfillmentIn
from orders.models import HoldRule, Order, OrderEvent, ShippingRequest
from tests.orders import factories as f


@pytest.fixture
def stocked(shop, wh, sku_a, sku_b):
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])


def _level(sku):
    return InventoryLevel.objects.get(product__sku=sku)


def _routed_order(shop, external_id="O-1", lines=(("A", 2),)):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(external_id, lines=lines)])
    return Order.objects.get(external_id=external_id)


# --- order_transition itself -------------------------------------------------------------------

def test_transition_from_a_stale_copy_is_refused_and_changes_nothing(shop, stocked):
    # given: a copy read while the order was ready; the buyer cancels it afterwards
    order = _routed_order(shop)
    stale = Order.objects.get(pk=order.pk)
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    events = OrderEvent.objects.count()
    # when: a worker moves its stale copy on
    with pytest.raises(services.StaleTransition):
        services.order_transition(order=stale, to_status="sentToFulfillment", actor="test")
    # then: the row keeps the newer state, no event, and the copy learns the current status
    assert Order.objects.get(pk=order.pk).status == "canceled"
    assert OrderEvent.objects.count() == events
    assert stale.status == "canceled"


def test_transition_with_explicit_expected_status_refuses_when_row_moved(shop, stocked):
    order = _routed_order(shop)
    with pytest.raises(services.StaleTransition):
        services.order_transition(order=order, from_status="onHold", to_status="readyForFulfillment", actor="test")
    assert Order.objects.get(pk=order.pk).status == "readyForFulfillment"


def test_stale_transition_is_an_invalid_transition(db):
    assert issubclass(services.StaleTransition, services.InvalidTransition)


# --- defect 3a: hold release works on the row, not on the batch it read ------------------------

def test_release_due_does_not_resurrect_an_order_cancelled_after_the_batch_was_read(shop, stocked, monkeypatch):
    # given: two held orders due; while the first one is routed, the buyer cancels the second
    HoldRule.objects.create(name="h", integration=shop, minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("1")])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("2")])
    Order.objects.filter(external_id="1").update(hold_until=timezone.now() - timedelta(minutes=2))
    Order.objects.filter(external_id="2").update(hold_until=timezone.now() - timedelta(minutes=1))
    real_commit = inventory_services.inventory_commit
    calls = []

    def commit_while_buyer_cancels(**kwargs):
        if not calls:
            second = Order.objects.get(external_id="2")
            services.order_cancel_from_channel(order=second, cancellation=CancellationIn(source="buyer", external_id="C2"))
        calls.append(kwargs["reference"])
        return real_commit(**kwargs)

    monkeypatch.setattr(inventory_services, "inventory_commit", commit_while_buyer_cancels)
    # when
    released = services.orders_release_due()
    # then: only the first order was released and routed; the cancelled one stays cancelled with nothing routed
    assert released == 1
    assert dict(Order.objects.values_list("external_id", "status")) == {"1": "readyForFulfillment", "2": "canceled"}
    assert ShippingRequest.objects.filter(order__external_id="2").exists() is False
    assert (_level("A").committed, _level("A").available) == (1, 9)
    assert OrderEvent.objects.filter(order__external_id="2", to_status="readyForFulfillment").exists() is False


def test_release_due_skips_an_order_a_person_released_in_between(shop, stocked, monkeypatch, admin_user):
    # given: two due orders; while the first is routed, a person releases the second by hand
    HoldRule.objects.create(name="h", integration=shop, minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("1"), f.order_in("2")])
    Order.objects.filter(external_id="1").update(hold_until=timezone.now() - timedelta(minutes=2))
    Order.objects.filter(external_id="2").update(hold_until=timezone.now() - timedelta(minutes=1))
    real_commit = inventory_services.inventory_commit
    calls = []

    def commit_while_user_releases(**kwargs):
        if not calls:
            calls.append(1)
            services.order_release_hold(order=Order.objects.get(external_id="2"), user=admin_user)
        return real_commit(**kwargs)

    monkeypatch.setattr(inventory_services, "inventory_commit", commit_while_user_releases)
    # when
    assert services.orders_release_due() == 1
    # then: one shipping request each, one release event each
    assert ShippingRequest.objects.filter(order__external_id="2").count() == 1
    assert OrderEvent.objects.filter(order__external_id="2", to_status="readyForFulfillment").count() == 1


# --- defect 3b: a request cancelled while it was being sent ------------------------------------

def test_mark_sent_on_a_request_cancelled_meanwhile_reopens_nothing_and_asks_the_3pl_to_cancel(shop, stocked, wh):
    # given: the push flow read the request (ready) and sent it; meanwhile the buyer cancelled the order
    order = _routed_order(shop)
    read_by_push = ShippingRequest.objects.select_related("order").get()
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    assert (_level("A").committed, _level("A").available) == (0, 10)
    # when: the 3PL accepted it, and the push records that on its stale copy
    services.shipping_request_mark_sent(shipping_request=read_by_push, external_id="OSA-9", remote_status="Waiting")
    # then: the order stays cancelled, the request stays cancelled but carries the 3PL id and a cancel request
    order.refresh_from_db()
    sr = ShippingRequest.objects.get()
    assert order.status == "canceled"
    assert (sr.status, sr.cancel_state, sr.external_id) == ("canceledRestock", "requested", "OSA-9")
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == [sr]
    assert OrderEvent.objects.filter(order=order, to_status="sentToFulfillment").exists() is False
    assert (_level("A").committed, _level("A").available) == (0, 10)
    # when: the cancel flow gets OSA's confirmation
    services.shipping_request_cancel_confirmed(shipping_request=sr)
    # then: closed, and the stock released once only
    sr.refresh_from_db()
    order.refresh_from_db()
    assert (sr.status, sr.cancel_state) == ("canceledRestock", "canceled")
    assert order.status == "canceled"
    assert (_level("A").on_hand, _level("A").committed, _level("A").available) == (10, 0, 10)
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == []


def test_cancelled_while_sent_and_shipped_anyway_is_recorded_as_too_late(shop, stocked, wh):
    # given: cancelled locally while being sent; OSA says too late and ships
    order = _routed_order(shop)
    read_by_push = ShippingRequest.objects.select_related("order").get()
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    services.shipping_request_mark_sent(shipping_request=read_by_push, external_id="OSA-9")
    sr = ShippingRequest.objects.get()
    services.shipping_request_cancel_confirmed(shipping_request=sr, too_late=True)
    # when the shipment arrives
    services.fulfillment_record(integration=sr.integration, shipping_request=ShippingRequest.objects.get(),
                                fulfillment=FulfillmentIn(external_id="F1"))
    # then: the shipment is on record, visible as cancel_too_late; stock left the shelf once, nothing stays committed
    sr.refresh_from_db()
    assert sr.cancel_state == "too_late"
    assert Order.objects.get().status == "canceled"
    assert (_level("A").on_hand, _level("A").committed, _level("A").available) == (8, 0, 8)
    from integrations.models import OpsException
    assert OpsException.objects.filter(code="cancel_too_late", status="open").count() == 1


def test_mark_rejected_on_a_request_cancelled_meanwhile_does_not_reopen_it(shop, stocked):
    order = _routed_order(shop)
    read_by_push = ShippingRequest.objects.select_related("order").get()
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    # when: the 3PL rejected the request the push had read before the cancellation
    services.shipping_request_mark_rejected(shipping_request=read_by_push, message="bad sku")
    # then: nothing to fix: the request stays cancelled and no exception is left open
    from integrations.models import OpsException
    assert ShippingRequest.objects.get().status == "canceledRestock"
    assert OpsException.objects.filter(status="open").exists() is False


def test_cancel_with_a_stale_unsent_copy_of_a_request_already_sent_asks_the_3pl(shop, stocked, wh):
    # given: the cancellation read the request as unsent; the push marked it sent before the cancellation wrote
    order = _routed_order(shop)
    read_by_cancel = ShippingRequest.objects.get()
    services.shipping_request_mark_sent(shipping_request=ShippingRequest.objects.get(), external_id="OSA-9")
    # when
    services.shipping_request_cancel(shipping_request=read_by_cancel, restock=True, actor="test")
    # then: not cancelled locally (the 3PL has it): cancellation requested from the 3PL, stock still committed
    sr = ShippingRequest.objects.get()
    assert (sr.status, sr.cancel_state) == ("sentToFulfillment", "requested")
    assert (_level("A").committed, _level("A").available) == (2, 8)
    order.refresh_from_db()
    assert order.status == "sentToFulfillment"


def test_shipment_recorded_on_a_stale_order_copy_never_moves_a_cancelled_order(shop, stocked):
    # given: a stale copy of an order that got cancelled
    order = _routed_order(shop)
    stale = Order.objects.get(pk=order.pk)
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    # when: a shipment is recorded against the stale copy (order-level, as platforms report them)
    record, created = services.fulfillment_record(integration=shop, order=stale, fulfillment=FulfillmentIn(external_id="F1"))
    # then: the shipment is on record, the order stays cancelled
    assert created is True and record.lines.get().quantity == 2
    assert Order.objects.get(pk=order.pk).status == "canceled"


def test_retry_of_a_failed_request_from_a_stale_copy_does_not_reopen_a_cancelled_one(shop, stocked):
    order = _routed_order(shop)
    services.shipping_request_mark_rejected(shipping_request=ShippingRequest.objects.get(), message="bad sku")
    stale = ShippingRequest.objects.get()
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    # when
    assert services.shipping_request_retry(shipping_request=stale) is False
    # then
    assert ShippingRequest.objects.get().status == "canceledRestock"
