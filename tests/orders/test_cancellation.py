"""Closed-loop cancellation: channel → 3PL (requested → canceled / too late) and 3PL → Switchyard (setting's status)."""
import pytest

from integrations.models import OpsException
from inventory.models import InventoryLevel
from orders import selectors, services
from orders.interface import CancellationIn, FulfillmentIn, QuantityLineIn
from orders.models import Cancellation, Order, OrderEvent, ShippingRequest
from tests.orders import factories as f


@pytest.fixture
def sent_order(shop, wh, sku_a, sku_b):
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 2), ("B", 1)))])
    order = Order.objects.get()
    services.shipping_request_mark_sent(shipping_request=order.shipping_requests.get(), external_id="OSA-1")
    order.refresh_from_db()
    return order


def _level(sku):
    return InventoryLevel.objects.get(product__sku=sku)


def test_channel_cancel_before_sending_cancels_locally_with_restock(shop, wh, sku_a):
    f.stock(wh, sku_a, 5)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="canceled", channel_status="CANCELLED")])
    order = Order.objects.get()
    assert order.status == "canceled"
    assert ShippingRequest.objects.get().status == "canceledRestock"
    assert _level("A").committed == 0
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == []


def test_channel_cancel_after_sent_requests_cancel_then_confirmed(shop, sent_order, wh):
    # when the buyer cancels at the channel
    services.order_cancel_from_channel(order=sent_order, cancellation=CancellationIn(source="buyer", external_id="C1", reason="changed mind"))
    services.order_cancel_from_channel(order=sent_order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    sent_order.refresh_from_db()
    sr = ShippingRequest.objects.get()
    assert Cancellation.objects.count() == 1
    assert (sr.cancel_state, sr.status) == ("requested", "sentToFulfillment")
    assert sent_order.status == "sentToFulfillment" and sent_order.cancel_requested_at is not None
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == [sr]
    # when the 3PL confirms
    services.shipping_request_cancel_confirmed(shipping_request=sr)
    services.shipping_request_cancel_confirmed(shipping_request=sr)
    sr.refresh_from_db()
    sent_order.refresh_from_db()
    assert (sr.cancel_state, sr.status) == ("canceled", "canceledRestock")
    assert sent_order.status == "canceled"
    assert (_level("A").committed, _level("A").available) == (0, 10)
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == []


def test_channel_cancel_too_late_raises_exception_and_fulfillment_flows_on(shop, sent_order):
    services.order_cancel_from_channel(order=sent_order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    sr = ShippingRequest.objects.get()
    # when the 3PL says it already shipped
    services.shipping_request_cancel_confirmed(shipping_request=sr, too_late=True)
    sr.refresh_from_db()
    assert sr.cancel_state == "too_late"
    exc = OpsException.objects.get(code="cancel_too_late")
    assert (exc.category, exc.status) == ("fulfillment", "open")
    # and the shipment still arrives
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F1"))
    sent_order.refresh_from_db()
    assert sent_order.status == "fulfilled"
    assert sent_order.cancel_requested_at is None
    assert (_level("A").on_hand, _level("A").committed) == (8, 0)


def test_fulfillment_arriving_while_cancel_requested_is_too_late(shop, sent_order):
    services.order_cancel_from_channel(order=sent_order, cancellation=CancellationIn(source="platform"))
    sr = ShippingRequest.objects.get()
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F1"))
    sr.refresh_from_db()
    sent_order.refresh_from_db()
    assert sr.cancel_state == "too_late"
    assert sent_order.status == "fulfilled"
    assert OpsException.objects.filter(code="cancel_too_late", status="open").count() == 1


def test_channel_cancel_after_fulfilled_is_too_late_on_the_order(shop, sent_order):
    sr = ShippingRequest.objects.get()
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F1"))
    sent_order.refresh_from_db()
    services.order_cancel_from_channel(order=sent_order, cancellation=CancellationIn(source="buyer", external_id="C9"))
    sent_order.refresh_from_db()
    assert sent_order.status == "fulfilled"
    assert OpsException.objects.get().code == "cancel_too_late"


def test_partial_channel_cancel_before_sending_reroutes_rest(shop, wh, sku_a, sku_b):
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 2), ("B", 1)))])
    order = Order.objects.get()
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(
        source="buyer", external_id="C2", is_full=False, lines=(QuantityLineIn(sku="B", quantity=1),)))
    order.refresh_from_db()
    active = order.shipping_requests.get(status="readyForFulfillment")
    assert order.status == "readyForFulfillment"
    assert [(ln.sku, ln.quantity) for ln in active.lines.all()] == [("A", 2)]
    assert (_level("A").committed, _level("B").committed) == (2, 0)


@pytest.mark.parametrize("status,sr_status,order_status,committed_a,on_hand_a", [
    ("canceledRestock", "canceledRestock", "canceled", 0, 10),
    ("canceled", "canceled", "canceled", 0, 8),
    ("reviewRequired", "reviewRequired", "reviewRequired", 2, 10),
    ("failed", "failed", "sentToFulfillment", 2, 10),
])
def test_3pl_cancellation_applies_setting_status(sent_order, status, sr_status, order_status, committed_a, on_hand_a):
    sr = ShippingRequest.objects.get()
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status=status, reason="out of stock")
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status=status, reason="out of stock")
    sr.refresh_from_db()
    sent_order.refresh_from_db()
    assert sr.status == sr_status
    assert sent_order.status == order_status
    assert (_level("A").committed, _level("A").on_hand) == (committed_a, on_hand_a)
    assert OpsException.objects.filter(code="canceled_by_fulfillment").count() == (1 if status == "failed" else 0)


def test_3pl_cancellation_with_unknown_status_changes_nothing(sent_order):
    sr = ShippingRequest.objects.get()
    with pytest.raises(ValueError):
        services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status="bogus")
    sr.refresh_from_db()
    assert sr.status == "sentToFulfillment"


def test_user_cancel_refused_for_fulfilled_order(shop, sent_order, admin_user):
    sr = ShippingRequest.objects.get()
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F1"))
    sent_order.refresh_from_db()
    with pytest.raises(services.OrderActionError):
        services.order_cancel(order=sent_order, user=admin_user)
    assert Cancellation.objects.count() == 0


def test_partial_channel_cancel_after_sent_reroutes_rest_once_confirmed(shop, sent_order, wh):
    services.order_cancel_from_channel(order=sent_order, cancellation=CancellationIn(
        source="buyer", external_id="C3", is_full=False, lines=(QuantityLineIn(sku="B", quantity=1),)))
    first = ShippingRequest.objects.get()
    assert first.cancel_state == "requested"
    services.shipping_request_cancel_confirmed(shipping_request=first)
    sent_order.refresh_from_db()
    new = ShippingRequest.objects.exclude(pk=first.pk).get()
    assert sent_order.status == "readyForFulfillment"
    assert [(ln.sku, ln.quantity) for ln in new.lines.all()] == [("A", 2)]
    assert (_level("A").committed, _level("B").committed) == (2, 0)


def test_commit_race_turns_into_pending_inventory(shop, wh, sku_a, monkeypatch):
    from inventory import services as inventory_services

    f.stock(wh, sku_a, 5)
    f.rule("r", [wh])

    def racing_commit(**kwargs):
        raise inventory_services.InsufficientInventory("taken meanwhile")

    monkeypatch.setattr(inventory_services, "inventory_commit", racing_commit)
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    assert order.routing_state == "pendingInventory"
    assert ShippingRequest.objects.count() == 0
    assert _level("A").committed == 0


def _line_cancel(order, sku, external_id, quantity=1):
    return services.order_cancel_from_channel(order=Order.objects.get(pk=order.pk), cancellation=CancellationIn(
        source="buyer", external_id=external_id, is_full=False, lines=(QuantityLineIn(sku=sku, quantity=quantity),)))


def test_partial_cancel_after_partial_shipment_routes_the_rest_once(shop, wh, sku_a):
    # given: 3 × A sent as one request; 1 unit shipped (order partialFulfillment)
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 3),))])
    order = Order.objects.get()
    first = order.shipping_requests.get()
    services.shipping_request_mark_sent(shipping_request=first, external_id="OSA-1")
    services.fulfillment_record(integration=first.integration, shipping_request=first, fulfillment=FulfillmentIn(
        external_id="F1", lines=(QuantityLineIn(sku="A", quantity=1),)))
    assert Order.objects.get().status == "partialFulfillment"
    # when: the buyer cancels one unit and the 3PL confirms the cancellation of the request
    _line_cancel(order, "A", "C1")
    services.shipping_request_cancel_confirmed(shipping_request=ShippingRequest.objects.get(pk=first.pk))
    # then: exactly the one paid-for unit left (3 - 1 cancelled - 1 shipped) is routed again
    second = order.shipping_requests.exclude(pk=first.pk).get()
    assert [(ln.sku, ln.quantity) for ln in second.lines.all()] == [("A", 1)]
    assert second.status == "readyForFulfillment"
    assert ShippingRequest.objects.get(pk=first.pk).status == "canceledRestock"
    assert (_level("A").on_hand, _level("A").committed, _level("A").available) == (9, 1, 8)
    assert Order.objects.get().status == "partialFulfillment"
    # and when the rest ships, the order is fulfilled
    services.shipping_request_mark_sent(shipping_request=second, external_id="OSA-2")
    services.fulfillment_record(integration=second.integration, shipping_request=second, fulfillment=FulfillmentIn(external_id="F2"))
    assert Order.objects.get().status == "fulfilled"
    assert (_level("A").on_hand, _level("A").committed) == (8, 0)


def test_units_shipped_on_a_cancelled_request_are_not_routed_again(shop, wh, sku_a, sku_b):
    # given: A and B on one sent request; A shipped, then B cancelled by the buyer and confirmed by the 3PL
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 2), ("B", 1)))])
    order = Order.objects.get()
    sr = order.shipping_requests.get()
    services.shipping_request_mark_sent(shipping_request=sr, external_id="OSA-1")
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(
        external_id="F1", lines=(QuantityLineIn(sku="A", quantity=2),)))
    # when
    _line_cancel(order, "B", "C1")
    services.shipping_request_cancel_confirmed(shipping_request=ShippingRequest.objects.get())
    # then: nothing is routed again (A shipped, B cancelled) and the order is complete
    assert ShippingRequest.objects.count() == 1
    assert Order.objects.get().status == "fulfilled"
    assert (_level("A").on_hand, _level("A").committed) == (8, 0)
    assert (_level("B").on_hand, _level("B").committed) == (10, 0)


# --- 3PL cancellations are recorded (issue 16) -------------------------------------------------

@pytest.mark.parametrize("status", ["canceledRestock", "canceled"])
def test_3pl_cancellation_records_one_fulfillment_cancellation_with_its_reason(sent_order, wh, status):
    sr = ShippingRequest.objects.get()
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status=status, reason="out of stock")
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status=status, reason="out of stock")
    record = Cancellation.objects.get()
    assert (record.source, record.reason, record.is_full, record.integration_id) == ("fulfillment", "out of stock", True, wh.integration_id)
    assert record.external_id == f"shipping_request:{sr.pk}"
    assert sorted((ln.sku, ln.quantity) for ln in record.lines.all()) == [("A", 2), ("B", 1)]


def test_3pl_cancellation_without_reason_records_an_empty_reason(sent_order):
    sr = ShippingRequest.objects.get()
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status="canceledRestock")
    assert Cancellation.objects.get().reason == ""


@pytest.mark.parametrize("status", ["reviewRequired", "failed"])
def test_3pl_cancellation_left_to_a_person_records_no_cancellation(sent_order, status):
    sr = ShippingRequest.objects.get()
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status=status, reason="out of stock")
    assert Cancellation.objects.count() == 0


def test_3pl_cancellation_after_a_partial_shipment_is_a_line_cancellation_of_what_was_not_shipped(sent_order, wh):
    sr = ShippingRequest.objects.get()
    services.fulfillment_record(integration=wh.integration, shipping_request=sr, fulfillment=FulfillmentIn(
        external_id="F1", carrier="UPS", tracking_numbers=("1Z",), lines=(QuantityLineIn(sku="A", quantity=1),)))
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status="canceledRestock", reason="damaged")
    record = Cancellation.objects.get()
    assert record.is_full is False
    assert sorted((ln.sku, ln.quantity) for ln in record.lines.all()) == [("A", 1), ("B", 1)]
    sent_order.refresh_from_db()
    assert {ln.sku: ln.canceled_quantity for ln in sent_order.lines.all()} == {"A": 1, "B": 1}
    assert sent_order.status == "fulfilled"  # everything not cancelled shipped


def test_cancellations_to_push_selects_user_and_fulfillment_cancellations_not_the_channels_own(shop, sent_order):
    sr = ShippingRequest.objects.get()
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status="canceledRestock", reason="out of stock")
    Cancellation.objects.create(order=sent_order, integration=shop, source="buyer", external_id="B1")
    assert [c.source for c in selectors.cancellations_to_push(integration=shop)] == ["fulfillment"]


@pytest.fixture
def two_sent_orders(shop, wh, sku_a, sku_b):
    """O-1 and O-2 (2 × A, 1 × B each) sent to the 3PL as one request each."""
    f.stock(wh, sku_a, 10)
    f.stock(wh, sku_b, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(external_id=ext, lines=(("A", 2), ("B", 1)))
                                                                     for ext in ("O-1", "O-2")])
    for n, sr in enumerate(ShippingRequest.objects.order_by("pk")):
        services.shipping_request_mark_sent(shipping_request=sr, external_id=f"OSA-{n}")
    return list(Order.objects.order_by("external_id"))


def test_a_page_of_confirmations_cancels_full_orders_and_reroutes_partial_ones(shop, two_sent_orders, wh):
    # given: O-1 cancelled by the buyer; O-2's B cancelled (its request is cancelled, A to be routed again)
    whole, partial = two_sent_orders
    services.order_cancel_from_channel(order=whole, cancellation=CancellationIn(source="buyer", external_id="C1"))
    _line_cancel(partial, "B", "C2")
    first, second = ShippingRequest.objects.order_by("pk")
    assert (first.cancel_state, second.cancel_state) == ("requested", "requested")
    # when: the 3PL confirms both in one page
    rows = services.shipping_requests_cancel_confirmed(shipping_requests=[second, first])
    # then: both closed with their stock released; O-1 cancelled, O-2's A routed again on a new request
    assert [(sr.pk, sr.status, sr.cancel_state) for sr in rows] == [(first.pk, "canceledRestock", "canceled"),
                                                                    (second.pk, "canceledRestock", "canceled")]
    assert [(o.external_id, o.status, o.cancel_requested_at) for o in Order.objects.order_by("external_id")] == [
        ("O-1", "canceled", None), ("O-2", "readyForFulfillment", None)]
    new = ShippingRequest.objects.exclude(pk__in=[first.pk, second.pk]).get()
    assert (new.order_id, new.status, [(ln.sku, ln.quantity) for ln in new.lines.all()]) == (
        partial.pk, "readyForFulfillment", [("A", 2)])
    assert (_level("A").committed, _level("A").available, _level("B").committed, _level("B").available) == (2, 8, 0, 10)
    assert sorted(OrderEvent.objects.filter(kind="sr_canceled").values_list("order__external_id", flat=True)) == ["O-1", "O-2"]
    assert list(OrderEvent.objects.filter(to_status="canceled").values_list("order__external_id", "from_status")) == [
        ("O-1", "sentToFulfillment")]
    assert Cancellation.objects.get(external_id="C1").status == "completed"
    # and: a repeat changes nothing
    services.shipping_requests_cancel_confirmed(shipping_requests=[first, second])
    assert OrderEvent.objects.filter(kind="sr_canceled").count() == 2 and ShippingRequest.objects.count() == 3
    assert (_level("A").committed, _level("B").committed) == (2, 0)


def test_a_request_changed_after_it_was_read_is_not_overwritten(shop, two_sent_orders, wh, monkeypatch):
    # given: both orders cancelled by the buyer; between the read and the write of the page (no row locks here),
    # another worker records the second request as shipped before the cancellation reached the 3PL
    from orders.services import cancellations

    for n, order in enumerate(two_sent_orders):
        services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id=f"C{n}"))
    first, second = ShippingRequest.objects.order_by("pk")
    real_lock, reads = cancellations.srs_lock, []

    def lock_then_another_writer(requests):
        rows = real_lock(requests)
        reads.append([sr.pk for sr in rows])
        if len(reads) == 1:
            ShippingRequest.objects.filter(pk=second.pk).update(cancel_state="too_late")
        return rows

    monkeypatch.setattr(cancellations, "srs_lock", lock_then_another_writer)
    # when
    rows = services.shipping_requests_cancel_confirmed(shipping_requests=[first, second])
    # then: the first is cancelled; the second keeps the other writer's state, re-read once, its stock still committed
    assert reads == [[first.pk, second.pk], [second.pk]]
    assert [(sr.pk, sr.status, sr.cancel_state) for sr in rows] == [(first.pk, "canceledRestock", "canceled"),
                                                                    (second.pk, "sentToFulfillment", "too_late")]
    assert list(ShippingRequest.objects.order_by("pk").values_list("status", "cancel_state")) == [
        ("canceledRestock", "canceled"), ("sentToFulfillment", "too_late")]
    assert (_level("A").committed, _level("B").committed) == (2, 1)
    assert [(o.external_id, o.status) for o in Order.objects.order_by("external_id")] == [
        ("O-1", "canceled"), ("O-2", "sentToFulfillment")]
    assert list(OrderEvent.objects.filter(kind="sr_canceled").values_list("order__external_id", flat=True)) == ["O-1"]
