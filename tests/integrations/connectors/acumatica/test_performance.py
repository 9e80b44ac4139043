"""Bounded queries per page for the Acumatica order push: the apply step takes the same number of queries for a page
of 1 and of N shipping requests (outbox rows read once, requests, orders and events written in bulk)."""
import json

import pytest

from integrations.connectors.acumatica.flows.orders import PushSalesOrders
from integrations.models import OutboundPush
from orders.models import OrderEvent, ShippingRequest

from ..query_counts import count_apply_queries, more_orders
from .conftest import load_fixture, run_flow, settings_set

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
    acu_api.none_found()  # the look-up after each create finds no other order: no extra query
    settings_set(acu_integration, mark_sent_to_fulfillment=move_order)
    srs = [make_sr(order) for order in more_orders(channel_order, count)]
    counted = count_apply_queries(monkeypatch, PushSalesOrders)
    # when
    run = run_flow(acu_integration, "push_orders")
    # then: every request sent (its order moved with one event, or left as it was with an sr_sent event), and the page
    # took a fixed number of queries
    assert (run.status, run.created) == ("succeeded", count)
    assert len(acu_api.calls_to("/SalesOrder", "GET")) == count  # one look-up per create, no database query
    assert set(ShippingRequest.objects.filter(pk__in=[s.pk for s in srs]).values_list("status", flat=True)) == {"sentToFulfillment"}
    moved = OrderEvent.objects.filter(kind="status", to_status="sentToFulfillment").count()
    assert (moved, OrderEvent.objects.filter(kind="sr_sent").count()) == ((count, 0) if move_order else (0, count))
    assert OutboundPush.objects.filter(kind="acumatica_sales_order", status="sent", attempts=1).count() == count
    # was 13-14 queries per request; now at most 15 for the page (savepoints included) whatever its size
    assert len(counted) == 1 and counted[0][0] == count and counted[0][1] <= 15, counted
