"""Bounded queries per page for the Katana order pushes: the apply step takes the same number of queries for a page
of 1 and of N shipping requests (outbox rows read once, requests, orders and events written in bulk)."""
import json
import re

import pytest

from integrations.connectors.katana.flows.orders import CancelSalesOrders, PushSalesOrders
from integrations.models import OutboundPush, SyncRun
from orders.models import OrderEvent, ShippingRequest

from ..query_counts import count_apply_queries, more_orders
from .conftest import BASE, run_flow

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("count", [1, 6])
def test_push_orders_page_queries_are_pinned_whatever_the_page_size(katana_integration, emulator, uk_order, make_sr,
                                                                    monkeypatch, count):
    # given
    run_flow(katana_integration, "pull_products")  # SKU-1 / SKU-2 bound to their Katana variants
    srs = [make_sr(order) for order in more_orders(uk_order, count)]
    counted = count_apply_queries(monkeypatch, PushSalesOrders)
    # when
    run = run_flow(katana_integration, "push_orders")
    # then: every request sent, its order moved with one event, and the page took a fixed number of queries
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == count
    assert set(ShippingRequest.objects.filter(pk__in=[s.pk for s in srs]).values_list("status", flat=True)) == {"sentToFulfillment"}
    assert OrderEvent.objects.filter(kind="status", to_status="sentToFulfillment").count() == count
    assert OutboundPush.objects.filter(kind="katana_sales_order", status="sent", attempts=1).count() == count
    # was 12 queries per request; now at most 15 for the page (savepoints included) whatever its size
    assert len(counted) == 1 and counted[0][0] == count and counted[0][1] <= 15, counted


def _run_counted(katana_integration, katana_api, orders, make_sr):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for order in orders:
        make_sr(order)
    with CaptureQueriesContext(connection) as captured:
        run = run_flow(katana_integration, "push_orders")
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == len(orders)
    return len(captured.captured_queries)


def test_push_orders_reads_each_page_once_and_writes_only_the_ledger_per_request(katana_integration, katana_api, uk_order,
                                                                                 make_sr, products):
    # given: variants bound; Katana answers every create (an id each) and look-up
    from .conftest import bind_variant, load_fixture

    bind_variant(katana_integration, products[0], 5511)
    bind_variant(katana_integration, products[1], 5512)
    created, ids = load_fixture("sales_order__created.json"), iter(range(1000, 2000))

    def create(request):
        return 200, {}, json.dumps(created | {"id": next(ids), "customer_ref": json.loads(request.body)["customer_ref"]})

    katana_api.mock.add_callback("POST", katana_api.url("/sales_orders"), callback=create)
    katana_api.listing("/sales_orders", [])
    katana_api.ok("POST", "/sales_order_shipping_fee", {"id": 1})
    orders = more_orders(uk_order, 7)
    # when: a run of one request, then a run of six
    one = _run_counted(katana_integration, katana_api, orders[:1], make_sr)
    state = katana_integration.flow_states.get(flow="push_orders")
    state.next_run_at = None
    state.save()
    six = _run_counted(katana_integration, katana_api, orders[1:], make_sr)
    # then: each further request costs two queries, its attempt counted and committed before its POST and the check
    # after it that the run's lease held (services.flow_lease_unbroken: no read-back call for a duplicate then);
    # everything else is read or written once per page (was 41 and 66 queries before; 40 and 44 with one query each)
    assert (one, six) == (40, 50)


@pytest.mark.parametrize("count", [1, 6])
def test_cancel_orders_page_queries_are_pinned_whatever_the_page_size(katana_integration, emulator, uk_order, make_sr,
                                                                      monkeypatch, count):
    # given: sales orders pushed to Katana (not shipped), then each order cancelled in Switchyard
    from ..query_counts import assert_cancelled, cancel_requested

    run_flow(katana_integration, "pull_products")
    srs = [make_sr(order) for order in more_orders(uk_order, count)]
    run_flow(katana_integration, "push_orders")
    cancel_requested(sr.order for sr in srs)
    assert set(ShippingRequest.objects.values_list("cancel_state", flat=True)) == {"requested"}
    counted = count_apply_queries(monkeypatch, CancelSalesOrders)
    # when
    run = run_flow(katana_integration, "cancel_orders")
    # then: every sales order deleted in Katana, every request cancelled here, its stock released, its order cancelled
    assert (run.status, run.updated) == (SyncRun.Status.SUCCEEDED, count)
    assert_cancelled(count)
    # was 31 queries per request (31 for a page of 1, 186 for 6: each through the single-request path); now 21 for the
    # page whatever its size (savepoints included)
    assert counted == [(count, 21)]


def _fbt_orders(channel, products, count: int) -> list:
    from decimal import Decimal

    from orders.models import Order, OrderLine

    orders = []
    for n in range(count):
        order = Order.objects.create(integration=channel, external_id=f"FBT-{n}", status="fulfilled", currency="GBP",
                                     fulfillment_type="platform")
        OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=1, unit_price=Decimal("9.50"))
        OrderLine.objects.create(order=order, sku="SKU-2", product=products[1], quantity=2, unit_price=Decimal("5.00"))
        orders.append(order)
    return orders


def _fbt_katana(katana_api) -> dict:
    """Katana answers each create with a sales order of its own id and each status update; returns id → status."""
    ids, statuses = iter(range(700, 800)), {}

    def create(request):
        so_id = next(ids)
        statuses[so_id] = "NOT_SHIPPED"
        return 200, {}, json.dumps({"id": so_id, "status": "NOT_SHIPPED", "sales_order_rows": []})

    def update(request):
        so_id = int(request.url.rsplit("/", 1)[-1])
        statuses[so_id] = json.loads(request.body)["status"]
        return 200, {}, json.dumps({"id": so_id, "status": statuses[so_id]})

    katana_api.mock.add_callback("POST", katana_api.url("/sales_orders"), callback=create)
    katana_api.mock.add_callback("PATCH", re.compile(re.escape(BASE + "/sales_orders/") + r"\d+$"), callback=update)
    return statuses


@pytest.mark.parametrize("count", [1, 6])
def test_push_fbt_orders_page_queries_are_pinned_whatever_the_page_size(katana_integration, katana_api, channel, products,
                                                                        monkeypatch, count):
    # given: Fulfilled-by-TikTok orders; their variants bound; Katana answers every create and status update
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from integrations.connectors.katana.flows.orders import PushFbtOrders

    from .conftest import bind_variant, settings_set

    settings_set(katana_integration, push_fbt_orders=True)
    bind_variant(katana_integration, products[0], 5511)
    bind_variant(katana_integration, products[1], 5512)
    orders = _fbt_orders(channel, products, count)
    statuses = _fbt_katana(katana_api)
    counted = count_apply_queries(monkeypatch, PushFbtOrders)
    ContentType.objects.clear_cache()  # counted from the same (cold) cache whatever ran before
    # when
    with CaptureQueriesContext(connection) as captured:
        run = run_flow(katana_integration, "push_fbt_orders")
    # then: one sales order each, set Delivered, its ledger row sent with one attempt
    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, count)
    assert sorted(statuses.values()) == ["DELIVERED"] * count
    pushes = OutboundPush.objects.filter(kind="katana_fbt_sales_order").order_by("object_id")
    assert [(p.object_id, p.status, p.attempts, p.remote_id) for p in pushes] == [
        (order.pk, "sent", 1, str(700 + n)) for n, order in enumerate(orders)]
    # the page's bookkeeping: was 2 queries per order (2 / 12 for 1 / 6), now 3 for the page; the whole run: was 10 per
    # order (33 / 83), now 1 per order, its attempt counted and committed before its POST (never two sales orders)
    assert counted == [(count, 3)]
    assert len(captured.captured_queries) == 31 + count, [q["sql"] for q in captured.captured_queries]


def test_push_orders_looks_each_unbound_sku_up_once_per_page(katana_integration, emulator, katana_api, uk_order, make_sr):
    # given: 5 requests of the same two SKUs, neither bound to a Katana variant yet (no products pull before)
    for order in more_orders(uk_order, 5):
        make_sr(order)
    # when
    run = run_flow(katana_integration, "push_orders")
    # then: one variant look-up per SKU for the page (was one per SKU per request: 10), then one create per request
    # (no duplicate check: first attempts, the run's lease held throughout), and the shipping fee of the one order
    # that has a shipping total (uk_order's)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 5
    assert len(katana_api.calls_to("/variants", "GET")) == 2
    assert len(katana_api.calls_to("/sales_orders", "POST")) == 5
    assert len(katana_api.calls_to("/sales_orders", "GET")) == 0
    assert len(katana_api.calls_to("/sales_order_shipping_fee", "POST")) == 1
    assert run.api_calls == 2 + 5 + 1


def test_push_fbt_orders_looks_each_unbound_sku_up_once_per_run(katana_integration, emulator, katana_api, channel, products):
    # given: 4 fulfilled-by-TikTok orders of SKU-1, not bound to its Katana variant yet
    from decimal import Decimal

    from orders.models import Order, OrderLine

    for n in range(4):
        order = Order.objects.create(integration=channel, external_id=f"FBT-{n}", status="fulfilled", currency="GBP",
                                     fulfillment_type="platform")
        OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=1, unit_price=Decimal("9.50"))
    # when
    run = run_flow(katana_integration, "push_fbt_orders")
    # then: one variant look-up for the run (was one per order: 4), then a create and a status update per order
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 4
    assert len(katana_api.calls_to("/variants", "GET")) == 1
    assert len(katana_api.calls_to("/sales_orders", "POST")) == 4
    assert run.api_calls == 1 + 4 * 2
