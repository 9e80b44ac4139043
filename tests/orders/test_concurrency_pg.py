"""Real concurrency on PostgreSQL (issue #10, defect 3): a worker changing an order or shipping request while
another one holds it. One thread holds its transaction open; the other is started against the same rows and
the test waits until PostgreSQL reports it blocked on a lock, then lets the first commit."""
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from inventory.models import InventoryLevel
from orders import selectors, services
from orders.interface import CancellationIn
from orders.models import Cancellation, HoldRule, Order, OrderEvent, ShippingRequest
from tests.orders import factories as f
from tests.fixtures.threads import start_in_thread

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL=postgres://...)"),
]

WAIT = 20  # seconds: upper bound for a thread to reach a point, never a timing assumption


def _wait_until_someone_waits_on_a_lock():
    deadline = time.monotonic() + WAIT
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")
            if cursor.fetchone()[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no backend ever waited on a lock")


def _holding(work, ready: threading.Event, release: threading.Event):
    """Do `work` in a transaction and keep it open (locks held) until released."""
    def run():
        with transaction.atomic():
            result = work()
            ready.set()
            assert release.wait(WAIT)
        return result
    return run


def _level(sku):
    return InventoryLevel.objects.get(product__sku=sku)


@pytest.fixture
def routed(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 2),))])
    return Order.objects.get()


def _cancel(order_pk):
    return services.order_cancel_from_channel(order=Order.objects.get(pk=order_pk),
                                              cancellation=CancellationIn(source="buyer", external_id="C1"))


def test_cancel_arriving_while_the_push_marks_sent_asks_the_3pl(routed, wh):
    # given: the push worker marked the request sent and has not committed yet
    results, ready, release = {}, threading.Event(), threading.Event()
    sr = ShippingRequest.objects.get()
    push = start_in_thread(_holding(lambda: services.shipping_request_mark_sent(
        shipping_request=ShippingRequest.objects.select_related("order").get(pk=sr.pk), external_id="OSA-1"), ready, release),
        results, "push")
    assert ready.wait(WAIT)
    # when: the buyer's cancellation is applied by another worker at the same time
    cancel = start_in_thread(lambda: _cancel(routed.pk), results, "cancel")
    _wait_until_someone_waits_on_a_lock()
    release.set()
    push.join(WAIT), cancel.join(WAIT)
    # then: the request stays sent and its cancellation is requested from the 3PL; stock stays committed until then
    assert not isinstance(results["push"], Exception) and not isinstance(results["cancel"], Exception), results
    sr.refresh_from_db()
    order = Order.objects.get()
    assert (sr.status, sr.cancel_state, sr.external_id) == ("sentToFulfillment", "requested", "OSA-1")
    assert order.status == "sentToFulfillment" and order.cancel_requested_at is not None
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == [sr]
    assert (_level("A").committed, _level("A").available) == (2, 8)
    assert Cancellation.objects.count() == 1


def test_push_marking_sent_while_the_cancel_commits_reopens_nothing(routed, wh):
    # given: the push worker read the request (ready) and sent it; the cancellation holds the order meanwhile
    results, ready, release = {}, threading.Event(), threading.Event()
    read_by_push = ShippingRequest.objects.select_related("order").get()
    cancel = start_in_thread(_holding(lambda: _cancel(routed.pk), ready, release), results, "cancel")
    assert ready.wait(WAIT)
    # when: the push records OSA's acceptance on its copy
    push = start_in_thread(lambda: services.shipping_request_mark_sent(shipping_request=read_by_push, external_id="OSA-1"), results, "push")
    _wait_until_someone_waits_on_a_lock()
    release.set()
    cancel.join(WAIT), push.join(WAIT)
    # then: the order stays cancelled, the request stays cancelled with OSA's id and a cancel request for the 3PL
    assert not isinstance(results["push"], Exception) and not isinstance(results["cancel"], Exception), results
    sr = ShippingRequest.objects.get()
    assert Order.objects.get().status == "canceled"
    assert (sr.status, sr.cancel_state, sr.external_id) == ("canceledRestock", "requested", "OSA-1")
    assert list(selectors.shipping_requests_to_cancel(integration=wh.integration)) == [sr]
    assert (_level("A").committed, _level("A").available) == (0, 10)
    assert OrderEvent.objects.filter(to_status="sentToFulfillment").exists() is False


def test_hold_release_waits_for_a_cancellation_in_progress_and_skips_the_order(shop, wh, sku_a):
    # given: a held order whose hold ended; the buyer's cancellation holds it (not committed yet)
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    HoldRule.objects.create(name="h", integration=shop, minutes=60, clock="sync_time")
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    order = Order.objects.get()
    Order.objects.filter(pk=order.pk).update(hold_until=timezone.now() - timedelta(minutes=1))
    results, ready, release = {}, threading.Event(), threading.Event()
    cancel = start_in_thread(_holding(lambda: _cancel(order.pk), ready, release), results, "cancel")
    assert ready.wait(WAIT)
    # when: the scheduled release runs at the same time
    releaser = start_in_thread(lambda: services.orders_release_due(), results, "release")
    _wait_until_someone_waits_on_a_lock()
    release.set()
    cancel.join(WAIT), releaser.join(WAIT)
    # then: nothing released, nothing routed, the order cancelled
    assert results["release"] == 0, results
    assert Order.objects.get().status == "canceled"
    assert ShippingRequest.objects.exists() is False
    assert (_level("A").committed, _level("A").available) == (0, 10)


def test_a_page_of_cancel_confirmations_waiting_on_a_shipment_decides_from_what_was_committed(routed, wh):
    # given: the request sent and its cancellation asked of the 3PL; the cancel flow read it; meanwhile the 3PL's
    # shipment is being recorded by another worker (its transaction open)
    from orders.interface import FulfillmentIn

    services.shipping_request_mark_sent(shipping_request=ShippingRequest.objects.get(), external_id="OSA-1")
    _cancel(routed.pk)
    read_by_cancel_flow = ShippingRequest.objects.get()
    assert read_by_cancel_flow.cancel_state == "requested"
    results, ready, release = {}, threading.Event(), threading.Event()
    ship = start_in_thread(_holding(lambda: services.fulfillment_record(
        integration=wh.integration, shipping_request=ShippingRequest.objects.get(), fulfillment=FulfillmentIn(external_id="F1")),
        ready, release), results, "ship")
    assert ready.wait(WAIT)
    # when: the cancel flow records the 3PL's confirmation for its page
    confirm = start_in_thread(lambda: services.shipping_requests_cancel_confirmed(shipping_requests=[read_by_cancel_flow]),
                              results, "confirm")
    _wait_until_someone_waits_on_a_lock()
    release.set()
    ship.join(WAIT), confirm.join(WAIT)
    # then: the shipment stands (too late), nothing is released twice or cancelled over it
    assert not isinstance(results["ship"], Exception) and not isinstance(results["confirm"], Exception), results
    sr = ShippingRequest.objects.get()
    assert (sr.status, sr.cancel_state) == ("fulfilled", "too_late")
    assert [(r.status, r.cancel_state) for r in results["confirm"]] == [("fulfilled", "too_late")]
    assert (_level("A").on_hand, _level("A").committed, _level("A").available) == (8, 0, 8)
    assert OrderEvent.objects.filter(kind="sr_canceled").exists() is False
    assert Order.objects.get().status == "fulfilled"
