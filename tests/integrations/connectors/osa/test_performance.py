"""Bounded queries per page: the inventory pull is bulk (independent of the number of SKUs)."""

import pytest

from catalog.models import Product
from inventory.models import InventoryLevel, Location

from .conftest import run_flow

pytestmark = pytest.mark.django_db


def _inventory_page(skus):
    return {
        "inventory": [
            {"sku": s, "location_code": "OSA-NJ", "location_type": "warehouse", "fulfillable": 7, "on_hand": 9} for s in skus
        ],
        "next_page": None,
    }


@pytest.mark.parametrize("count", [5, 100])
def test_inventory_pull_queries_do_not_grow_with_skus(osa_integration, osa_api, django_assert_max_num_queries, count):
    # given
    Location.objects.create(integration=osa_integration, code="osa-nj", name="OSA NJ", external_id="OSA-NJ")
    skus = [f"SKU-{i:04d}" for i in range(count)]
    Product.objects.bulk_create([Product(sku=s, name=s) for s in skus])
    osa_api.ok("GET", "/inventory", _inventory_page(skus))
    # when / then
    with django_assert_max_num_queries(45):
        run_flow(osa_integration, "pull_inventory")
    assert InventoryLevel.objects.filter(fulfillable=7).count() == count


def _orders_with_requests(channel_order, make_sr, count):
    from orders.models import Order, OrderLine

    srs = [make_sr(channel_order)]
    for n in range(1, count):
        order = Order.objects.create(integration=channel_order.integration, external_id=f"{channel_order.external_id}-{n}",
                                     status="readyForFulfillment", shipping_method="Standard",
                                     shipping_address=channel_order.shipping_address)
        for line in channel_order.lines.all():
            OrderLine.objects.create(order=order, sku=line.sku, product=line.product, quantity=line.quantity, unit_price=line.unit_price)
        srs.append(make_sr(order))
    return srs


@pytest.mark.parametrize("count", [3, 12])
def test_push_shipping_requests_page_queries_are_pinned_whatever_the_page_size(
    osa_integration, emulator, channel_order, make_sr, mapped, monkeypatch, count
):
    # given: the apply step of each page counted alone (the emulator answers in-process with queries of its own)
    from integrations.connectors.osa.flows.shipping_requests import PushShippingRequests
    from orders.models import OrderEvent, ShippingRequest

    from ..query_counts import count_apply_queries

    counted = count_apply_queries(monkeypatch, PushShippingRequests)
    srs = _orders_with_requests(channel_order, make_sr, count)
    # when
    run = run_flow(osa_integration, "push_shipping_requests")
    # then: every request sent, its order moved with one event, and the page took a fixed number of queries
    assert run.created == count
    assert set(ShippingRequest.objects.filter(pk__in=[s.pk for s in srs]).values_list("status", flat=True)) == {"sentToFulfillment"}
    assert OrderEvent.objects.filter(kind="status", to_status="sentToFulfillment").count() == count
    # was 10.6-12.3 queries per request; now at most 15 for the page whatever its size (savepoints included; one
    # less once the content type is cached)
    assert len(counted) == 1 and counted[0][0] == count and counted[0][1] <= 15, counted


@pytest.mark.parametrize("count", [1, 6])
def test_cancel_shipping_requests_page_queries_are_pinned_whatever_the_page_size(
    osa_integration, emulator, channel_order, make_sr, mapped, monkeypatch, count
):
    # given: requests sent to OSA (not shipped yet there), then each order cancelled in Switchyard
    from integrations.connectors.osa.flows.shipping_requests import CancelShippingRequests
    from orders.models import ShippingRequest

    from ..query_counts import assert_cancelled, cancel_requested, count_apply_queries

    emulator.accept_delay_seconds = 3600
    emulator.save()
    srs = _orders_with_requests(channel_order, make_sr, count)
    run_flow(osa_integration, "push_shipping_requests")
    cancel_requested(sr.order for sr in srs)
    assert set(ShippingRequest.objects.values_list("cancel_state", flat=True)) == {"requested"}
    counted = count_apply_queries(monkeypatch, CancelShippingRequests)
    # when
    run = run_flow(osa_integration, "cancel_shipping_requests")
    # then: every request cancelled at OSA and here, its stock released, its order cancelled with one event
    assert (run.status, run.updated) == ("succeeded", count)
    assert_cancelled(count)
    # was 31 queries per request (31 for a page of 1, 186 for 6: each through the single-request path); now 21 for the
    # page whatever its size (savepoints included)
    assert counted == [(count, 21)]
