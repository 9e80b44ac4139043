"""Query counting for the push flows' apply step (the page's bookkeeping), shared by the connectors' performance
tests: the emulators answer in-process with queries of their own, so only `apply` is counted."""
from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext


def count_apply_queries(monkeypatch, flow_class) -> list[tuple[int, int]]:
    """Patch flow_class.apply to record (items in the page, queries it took) per page; returns the live list."""
    counted: list[tuple[int, int]] = []
    real_apply = flow_class.apply

    def apply(self, page, result):
        with CaptureQueriesContext(connection) as captured:
            real_apply(self, page, result)
        counted.append((len(page.items), len(captured.captured_queries)))

    monkeypatch.setattr(flow_class, "apply", apply)
    return counted


def more_orders(order, count: int) -> list:
    """`order` and count-1 copies of it (same lines, products and address), each ready for fulfillment."""
    from orders.models import Order, OrderLine

    orders = [order]
    for n in range(1, count):
        copy = Order.objects.create(integration=order.integration, external_id=f"{order.external_id}-{n}", status=order.status,
                                    shipping_method=order.shipping_method, payment_method=order.payment_method,
                                    currency=order.currency, shipping_address=order.shipping_address)
        OrderLine.objects.bulk_create([OrderLine(order=copy, sku=ln.sku, product=ln.product, quantity=ln.quantity,
                                                 unit_price=ln.unit_price) for ln in order.lines.all()])
        orders.append(copy)
    return orders


def cancel_requested(orders) -> None:
    """Each (sent) order cancelled in Switchyard: its requests' cancellation asked of the 3PL, the order waiting."""
    from orders import services as order_services
    from orders.models import Order

    for order in orders:
        order_services.order_cancel(order=Order.objects.get(pk=order.pk), reason="buyer changed their mind")


def assert_cancelled(count: int) -> None:
    """After a cancel flow confirmed every request of `count` orders (2 × SKU-1 and 1 × SKU-2 each, 20 on hand):
    every request cancelled here with its stock released, every order cancelled with one event."""
    from inventory.models import InventoryLevel
    from orders.models import Order, OrderEvent, ShippingRequest

    assert set(ShippingRequest.objects.values_list("status", "cancel_state")) == {("canceledRestock", "canceled")}
    assert set(Order.objects.values_list("status", "cancel_requested_at")) == {("canceled", None)}
    assert OrderEvent.objects.filter(kind="status", to_status="canceled").count() == count
    assert OrderEvent.objects.filter(kind="sr_canceled").count() == count
    assert sorted(InventoryLevel.objects.values_list("product__sku", "committed", "available")) == [("SKU-1", 0, 20), ("SKU-2", 0, 20)]
