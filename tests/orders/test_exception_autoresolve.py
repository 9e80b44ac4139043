"""Every exception code the orders core raises resolves itself once its cause is gone (issue #10, newcomer
findings), and re-drive records who resolved."""
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.models import Mapping, OpsException
from orders import services
from orders.interface import CancellationIn, FulfillmentIn, RefundIn, ReturnIn
from orders.models import Order, ShippingRequest
from tests.orders import factories as f

GOOD = {"name": "Jo", "address1": "1 Main St", "city": "Austin", "country_code": "US", "postal_code": "78701"}


def _exc(code):
    return OpsException.objects.get(code=code)


def _sent(shop, wh, sku_a, qty=2):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", qty),))])
    order = Order.objects.get()
    sr = order.shipping_requests.get()
    services.shipping_request_mark_sent(shipping_request=sr, external_id="OSA-1")
    return order, ShippingRequest.objects.get(pk=sr.pk)


def test_unknown_sku_resolves_on_the_schedule_once_the_product_exists(shop, wh):
    # given: an order waiting in review for an unknown SKU
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("NEW-1", 1),))])
    assert _exc("unknown_sku").status == "open"
    assert services.orders_retry_blocked() == 0  # cause still there: nothing moves
    assert _exc("unknown_sku").status == "open"
    # when: the product is created (no one re-drives) and the schedule runs
    f.stock(wh, f.product("NEW-1"), 5)
    moved = services.orders_retry_blocked()
    # then
    assert moved == 1
    assert (_exc("unknown_sku").status, _exc("unknown_sku").resolution_note) == ("resolved", "SKU now known")
    order = Order.objects.get()
    assert (order.status, order.routing_state) == ("readyForFulfillment", "routed")


def test_bad_address_resolves_on_the_schedule_once_the_address_is_completed(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(shipping_address={"name": "Jo", "city": "Austin"})])
    assert _exc("bad_address").status == "open"
    # when: the address is completed here (admin edit) and the schedule runs
    Order.objects.update(shipping_address=GOOD)
    assert services.orders_retry_blocked() == 1
    # then
    assert _exc("bad_address").status == "resolved"
    assert Order.objects.get().shipping_requests.count() == 1


def test_routing_failure_codes_replace_each_other_and_resolve_when_routed(shop, wh, sku_a):
    # given: no rule → no_location
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    assert _exc("no_location").status == "open"
    # when: a rule is added but there is no stock → out_of_stock replaces no_location
    f.rule("r", [wh])
    services.order_retry(order=Order.objects.get())
    assert _exc("no_location").status == "resolved"
    assert _exc("out_of_stock").status == "open"
    # when: stock arrives and the routing retry comes
    f.stock(wh, sku_a, 5)
    services.orders_retry_routing(now=timezone.now() + services.ROUTING_RETRY)
    # then: routed, nothing left open
    assert Order.objects.get().routing_state == "routed"
    assert OpsException.objects.filter(status="open").exists() is False


def test_routing_exception_resolves_when_the_order_is_reheld(shop, wh, sku_a, admin_user):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    assert _exc("no_location").status == "open"
    services.order_rehold(order=Order.objects.get(), user=admin_user)
    assert _exc("no_location").status == "resolved"


def test_3pl_rejection_resolves_when_the_request_is_cancelled(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    services.shipping_request_mark_rejected(shipping_request=ShippingRequest.objects.get(), message="bad sku")
    assert _exc("3pl_rejected").status == "open"
    services.order_cancel_from_channel(order=Order.objects.get(), cancellation=CancellationIn(source="buyer", external_id="C1"))
    assert _exc("3pl_rejected").status == "resolved"


def test_3pl_rejection_resolves_when_the_request_is_sent_after_redrive(shop, wh, sku_a, admin_user):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    services.shipping_request_mark_rejected(shipping_request=ShippingRequest.objects.get(), message="3PL down")
    services.exceptions_redrive(exceptions=OpsException.objects.all(), user=admin_user)
    services.shipping_request_mark_sent(shipping_request=ShippingRequest.objects.get(), external_id="OSA-1")
    assert _exc("3pl_rejected").status == "resolved"
    assert ShippingRequest.objects.get().status == "sentToFulfillment"


def test_canceled_by_fulfillment_redrive_routes_again_and_resolves(shop, wh, sku_a, admin_user):
    # given: the 3PL cancelled a sent request and the setting says "failed"
    order, sr = _sent(shop, wh, sku_a)
    services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status="failed", reason="damaged")
    exc = _exc("canceled_by_fulfillment")
    # when: re-driven
    assert services.exceptions_redrive(exceptions=[exc], user=admin_user) == 1
    # then: the 3PL's cancelled request is closed here (restock) and the order is routed again on a new request
    sr.refresh_from_db()
    assert sr.status == "canceledRestock"
    new = order.shipping_requests.exclude(pk=sr.pk).get()
    assert (new.status, [(ln.sku, ln.quantity) for ln in new.lines.all()]) == ("readyForFulfillment", [("A", 2)])
    assert Order.objects.get().status == "readyForFulfillment"
    exc.refresh_from_db()
    assert (exc.status, exc.resolved_by) == ("resolved", admin_user)


def test_cancel_too_late_resolves_when_the_order_is_returned(shop, wh, sku_a):
    order, sr = _sent(shop, wh, sku_a)
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    services.shipping_request_cancel_confirmed(shipping_request=sr, too_late=True)
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F1"))
    assert _exc("cancel_too_late").status == "open"
    # when: the buyer's return is received
    services.returns_upsert(integration=shop, returns_in=[ReturnIn(external_id="R1", order_external_id=order.external_id,
                                                                   status="received")])
    # then
    assert Order.objects.get().status == "returned"
    assert _exc("cancel_too_late").status == "resolved"


def test_order_level_cancel_too_late_resolves_when_refunded(shop):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(status="fulfilled", channel_status="COMPLETED")])
    order = Order.objects.get()
    services.order_cancel_from_channel(order=order, cancellation=CancellationIn(source="buyer", external_id="C1"))
    assert _exc("cancel_too_late").status == "open"
    services.refunds_upsert(integration=shop, refunds_in=[RefundIn(external_id="RF1", order_external_id=order.external_id,
                                                                   status="completed", amount=Decimal("10.00"))])
    assert _exc("cancel_too_late").status == "resolved"


def test_duplicate_order_id_resolves_when_the_order_next_arrives_once(shop, wh):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 1),)), f.order_in(lines=(("X", 2),))])
    assert _exc("duplicate_order_id").status == "open"
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 2),))])
    assert _exc("duplicate_order_id").status == "resolved"


def test_redrive_records_who_resolved(shop, wh, sku_a, admin_user):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("tt-a", 1),))])
    Mapping.objects.create(integration=shop, kind="sku", source="tt-a", target="A")
    # when
    assert services.exceptions_redrive(exceptions=OpsException.objects.all(), user=admin_user) == 1
    # then
    exc = _exc("unknown_sku")
    assert (exc.status, exc.resolved_by, exc.resolution_note) == ("resolved", admin_user, "SKU now known (re-drive by user root)")


def test_redrive_that_resolves_nothing_records_nobody(shop, wh, admin_user):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 1),))])
    assert services.exceptions_redrive(exceptions=OpsException.objects.all(), user=admin_user) == 0
    exc = _exc("unknown_sku")
    assert (exc.status, exc.resolved_by, exc.resolution_note) == ("open", None, "")
