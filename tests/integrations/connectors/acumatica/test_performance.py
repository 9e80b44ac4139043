"""Bounded queries per page for the Acumatica order push: the apply step takes the same number of queries for a page
of 1 and of N shipping requests (outbox rows read once, requests, orders and events written in bulk)."""
import json
import re

import pytest

from integrations.connectors.acumatica.flows.orders import CancelSalesOrders, PushSalesOrders
from integrations.models import OutboundPush
from orders.models import Order, OrderEvent, ShippingRequest

from ..query_counts import count_apply_queries, more_orders
from .conftest import BASE, load_fixture, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("move_order", [True, False])
@pytest.mark.parametrize("count", [1, 6])
def test_push_orders_page_queries_are_pinned_whatever_the_page_size(acu_integration, acu_api, channel_order, make_sr, mapped,
                                                                    monkeypatch, count, move_order):
    # given: Acumatica answers each PUT with a sales order of its own number
    created = load_fixture("salesorder_create__ok.json")

    def create(request):
        ref = json.loads(request.body)["ExternalRef"]["value"]
        return 200, {}, json.dumps(created | {"OrderNbr": {"value": f"SO-{ref}"}, "ExternalRef": {"value": ref}})

    acu_api.mock.add_callback("PUT", acu_api.url("/SalesOrder"), callback=create)
    settings_set(acu_integration, mark_sent_to_fulfillment=move_order)
    srs = [make_sr(order) for order in more_orders(channel_order, count)]
    counted = count_apply_queries(monkeypatch, PushSalesOrders)
    # when
    run = run_flow(acu_integration, "push_orders")
    # then: every request sent (its order moved with one event, or left as it was with an sr_sent event), and the page
    # took a fixed number of queries
    assert (run.status, run.created) == ("succeeded", count)
    # no look-up after a create (first attempts, the run's lease held: services.flow_lease_unbroken, one query each)
    assert acu_api.calls_to("/SalesOrder", "GET") == []
    assert set(ShippingRequest.objects.filter(pk__in=[s.pk for s in srs]).values_list("status", flat=True)) == {"sentToFulfillment"}
    moved = OrderEvent.objects.filter(kind="status", to_status="sentToFulfillment").count()
    assert (moved, OrderEvent.objects.filter(kind="sr_sent").count()) == ((count, 0) if move_order else (0, count))
    assert OutboundPush.objects.filter(kind="acumatica_sales_order", status="sent", attempts=1).count() == count
    # was 13-14 queries per request; now at most 15 for the page (savepoints included) whatever its size
    assert len(counted) == 1 and counted[0][0] == count and counted[0][1] <= 15, counted


@pytest.mark.parametrize("count", [1, 6])
def test_cancel_orders_page_queries_are_pinned_whatever_the_page_size(acu_integration, acu_api, channel_order, make_sr,
                                                                      monkeypatch, count):
    # given: sales orders sent to Acumatica, each order cancelled in Switchyard; Acumatica shows each sales order Open,
    # cancels it, then shows it Canceled
    from ..query_counts import assert_cancelled, cancel_requested

    orders = more_orders(channel_order, count)
    Order.objects.update(status="sentToFulfillment")
    srs = [make_sr(order, status="sentToFulfillment", external_id=f"SO/SO{n:06d}") for n, order in enumerate(orders)]
    cancel_requested(orders)
    assert set(ShippingRequest.objects.values_list("cancel_state", flat=True)) == {"requested"}
    canceled = set()

    def sales_order(request):
        nbr = request.url.rsplit("/", 1)[-1].split("?")[0]
        return 200, {}, json.dumps({"OrderType": {"value": "SO"}, "OrderNbr": {"value": nbr},
                                    "Status": {"value": "Canceled" if nbr in canceled else "Open"}})

    def cancel(request):
        canceled.add(json.loads(request.body)["entity"]["OrderNbr"]["value"])
        return 204, {}, ""

    acu_api.mock.add_callback("GET", re.compile(re.escape(BASE + "/SalesOrder/SO/") + r"SO\d+(\?.*)?$"), callback=sales_order)
    acu_api.mock.add_callback("POST", acu_api.url("/SalesOrder/CancelSalesOrder"), callback=cancel)
    counted = count_apply_queries(monkeypatch, CancelSalesOrders)
    # when
    run = run_flow(acu_integration, "cancel_orders")
    # then: every sales order cancelled in Acumatica, every request cancelled here, its stock released, its order cancelled
    assert (run.status, run.updated) == ("succeeded", count)
    assert len(canceled) == count
    assert_cancelled(count)
    # was 31 queries per request (31 for a page of 1, 186 for 6: each through the single-request path); now 21 for the
    # page whatever its size (savepoints included)
    assert counted == [(count, 21)]


def _refunds(channel_order, fake_integration, make_sr, count: int) -> list:
    from decimal import Decimal

    from orders.models import OrderLine, Refund, RefundLine

    make_sr(channel_order, status="sentToFulfillment", external_id="SO/SO000123")  # the order reached Acumatica
    line = OrderLine.objects.get(order=channel_order, sku="SKU-1")
    refunds = []
    for n in range(count):
        refund = Refund.objects.create(order=channel_order, integration=fake_integration, external_id=f"RF-{n}",
                                       status="completed", amount=Decimal("9.50"))
        RefundLine.objects.create(refund=refund, order_line=line, sku="SKU-1", quantity=1, amount=Decimal("9.50"))
        refunds.append(refund)
    return refunds


@pytest.mark.parametrize("count", [1, 6])
def test_push_refunds_page_queries_are_pinned_whatever_the_page_size(acu_integration, acu_api, channel_order, fake_integration,
                                                                     make_sr, monkeypatch, count):
    # given: refunds of an order sent to Acumatica; Acumatica answers each PUT with a return order of its own number
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.connectors.acumatica.flows.orders import PushRefunds

    settings_set(acu_integration, push_refunds=True, generic_customer_id="TIKTOK")
    refunds = _refunds(channel_order, fake_integration, make_sr, count)

    def create(request):
        ref = json.loads(request.body)["ExternalRef"]["value"]
        return 200, {}, json.dumps({"OrderType": {"value": "RC"}, "OrderNbr": {"value": f"RC-{ref}"}, "Status": {"value": "Open"},
                                    "ExternalRef": {"value": ref}})

    acu_api.mock.add_callback("PUT", acu_api.url("/SalesOrder"), callback=create)
    counted = count_apply_queries(monkeypatch, PushRefunds)
    ContentType.objects.clear_cache()  # counted from the same (cold) cache whatever ran before
    # when
    with CaptureQueriesContext(connection) as captured:
        run = run_flow(acu_integration, "push_refunds")
    # then: one return order each, its ledger row sent with one attempt
    assert (run.status, run.created) == ("succeeded", count)
    pushes = OutboundPush.objects.filter(kind="acumatica_refund").order_by("object_id")
    assert [(p.object_id, p.status, p.attempts, p.remote_id) for p in pushes] == [
        (r.pk, "sent", 1, f"RC/RC-refund:{r.pk}") for r in refunds]
    # the page's bookkeeping: was 5 queries per refund (6 / 31 for 1 / 6), now 2 for the page (ledger rows read, one
    # write); the whole run: was 6 per refund (39 / 69), now 38 + 2 per refund: the ledger rows read (the missing ones
    # created) once per page before the calls, then per refund its attempt committed before the PUT and the check that
    # the run's lease held after it (no read-back call then)
    assert counted == [(count, 2)]
    assert len(captured.captured_queries) == 38 + 2 * count, [q["sql"] for q in captured.captured_queries]
