"""Bounded queries per page for the Katana order pushes: the apply step takes the same number of queries for a page
of 1 and of N shipping requests (outbox rows read once, requests, orders and events written in bulk)."""
import pytest

from integrations.connectors.katana.flows.orders import CancelSalesOrders, PushSalesOrders
from integrations.models import OutboundPush, SyncRun
from orders.models import OrderEvent, ShippingRequest

from ..query_counts import count_apply_queries, more_orders
from .conftest import run_flow

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
