"""Exceptions: dedup, auto-resolve, re-drive of every entity blocked by one cause."""
from integrations.models import Mapping, OpsException
from orders import services
from orders.models import Order, ShippingRequest
from tests.orders import factories as f


def test_redrive_after_sku_mapping_retries_every_blocked_order(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("1", lines=(("tt-a", 1),)),
                                                                     f.order_in("2", lines=(("tt-a", 2),))])
    assert OpsException.objects.filter(status="open", cause_key="sku:tt-a").count() == 2
    # when the SKU is mapped and ONE exception is re-driven
    Mapping.objects.create(integration=shop, kind="sku", source="tt-a", target="A")
    resolved = services.exceptions_redrive(exceptions=OpsException.objects.filter(pk=OpsException.objects.first().pk))
    # then both orders move on
    assert resolved == 2
    assert sorted(Order.objects.values_list("external_id", "status")) == [("1", "readyForFulfillment"), ("2", "readyForFulfillment")]
    assert ShippingRequest.objects.count() == 2
    assert OpsException.objects.filter(status="open").count() == 0


def test_redrive_without_fix_keeps_exception_open(shop, wh):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 1),))])
    exc = OpsException.objects.get()
    assert services.exceptions_redrive(exceptions=[exc]) == 0
    exc.refresh_from_db()
    assert (exc.status, exc.count) == ("open", 2)
    assert Order.objects.get().status == "reviewRequired"


def test_redrive_routing_exception_after_rule_added(shop, wh, sku_a):
    f.stock(wh, sku_a, 3)
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in()])
    exc = OpsException.objects.get()
    assert exc.code == "no_location"
    f.rule("r", [wh])
    assert services.exceptions_redrive(exceptions=[exc]) == 1
    assert Order.objects.get().routing_state == "routed"


def test_redrive_failed_shipping_requests_by_shipping_method_cause(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in("1", shipping_method="Std"), f.order_in("2", shipping_method="Std")])
    for sr in ShippingRequest.objects.all():
        services.shipping_request_mark_rejected(shipping_request=sr, message="no mapping", code="unknown_shipping_method")
        services.shipping_request_mark_rejected(shipping_request=sr, message="no mapping", code="unknown_shipping_method")
    assert OpsException.objects.filter(status="open").count() == 2
    assert set(OpsException.objects.values_list("count", flat=True)) == {2}
    resolved = services.exceptions_redrive(exceptions=[OpsException.objects.first()])
    assert resolved == 2
    assert set(ShippingRequest.objects.values_list("status", flat=True)) == {"readyForFulfillment"}


def test_unknown_sku_exception_dedups_per_order_and_sku(shop):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 1), ("Y", 1)))])
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 1), ("Y", 2)))])
    assert sorted(OpsException.objects.values_list("cause_key", "count")) == [("sku:X", 2), ("sku:Y", 2)]


def test_duplicate_order_id_in_one_page_keeps_the_later_and_raises(shop, wh):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("X", 1),)), f.order_in(lines=(("X", 2),))])
    assert Order.objects.get().lines.get().quantity == 2
    assert OpsException.objects.filter(code="duplicate_order_id").count() == 1
