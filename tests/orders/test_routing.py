"""Routing: rule order and filters, ranked candidates, check_inventory on/off, split, links, managed routing,
bundles, pending inventory re-check, retry of failed routing, re-route."""
from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import OpsException
from inventory import services as inventory_services
from inventory.models import InventoryLevel
from orders import services
from orders.models import Order, ShippingRequest
from tests.orders import factories as f


def _ingest(shop, **kw):
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(**kw)])
    return Order.objects.get(external_id=kw.get("external_id", "O-1"))


def _plan(order):
    return sorted((sr.location.code, ln.sku, ln.quantity) for sr in order.shipping_requests.all() for ln in sr.lines.all())


def test_first_matching_rule_in_position_order_wins(shop, wh, wh2, sku_a):
    f.stock(wh, sku_a, 5)
    f.stock(wh2, sku_a, 5)
    f.rule("west for CA", [wh2], position=1, regions=["CA"])
    f.rule("default east", [wh], position=2)
    ca = _ingest(shop, external_id="1", shipping_address={"address1": "1 Main St", "postal_code": "10001", "country": "US", "state": "CA"})
    ny = _ingest(shop, external_id="2", shipping_address={"address1": "1 Main St", "postal_code": "10001", "country": "US", "state": "NY"})
    assert _plan(ca) == [("wh-west", "A", 1)]
    assert _plan(ny) == [("wh-east", "A", 1)]


def test_rule_filters_on_integration_sku_tag_country(shop, wh, wh2, sku_a, sku_b):
    other = f.channel("Shop UK")
    for loc in (wh, wh2):
        f.stock(loc, sku_a, 5)
        f.stock(loc, sku_b, 5)
    f.rule("uk shop", [wh2], position=1, integration=other)
    f.rule("B items", [wh2], position=2, skus=["B"])
    f.rule("gift tag", [wh2], position=3, tags=["gift"])
    f.rule("canada", [wh2], position=4, countries=["CA"])
    f.rule("fallback", [wh], position=9)
    assert _plan(_ingest(shop, external_id="1")) == [("wh-east", "A", 1)]
    assert _plan(_ingest(shop, external_id="2", lines=(("B", 1),))) == [("wh-west", "B", 1)]
    assert _plan(_ingest(shop, external_id="3", tags=("gift",))) == [("wh-west", "A", 1)]
    assert _plan(_ingest(shop, external_id="4", shipping_address={"address1": "1 Main St", "postal_code": "10001", "country": "ca"})) == [("wh-west", "A", 1)]
    services.orders_upsert_from_channel(integration=other, orders_in=[f.order_in("5")])
    assert _plan(Order.objects.get(external_id="5")) == [("wh-west", "A", 1)]


def test_check_inventory_picks_first_ranked_location_with_everything(shop, wh, wh2, sku_a, sku_b):
    f.stock(wh, sku_a, 5)  # east lacks B
    f.stock(wh2, sku_a, 5)
    f.stock(wh2, sku_b, 5)
    f.rule("r", [wh, wh2], check_inventory=True)
    order = _ingest(shop, lines=(("A", 2), ("B", 1)))
    assert _plan(order) == [("wh-west", "A", 2), ("wh-west", "B", 1)]


def test_split_across_locations_when_allowed(shop, wh, wh2, sku_a, sku_b):
    f.stock(wh, sku_a, 3)
    f.stock(wh2, sku_a, 4)
    f.stock(wh2, sku_b, 1)
    f.rule("r", [wh, wh2], allow_split=True)
    order = _ingest(shop, lines=(("A", 5), ("B", 1)))
    assert _plan(order) == [("wh-east", "A", 3), ("wh-west", "A", 2), ("wh-west", "B", 1)]
    refs = sorted(order.shipping_requests.values_list("reference", flat=True))
    assert refs == [f"SY-{order.pk}-1", f"SY-{order.pk}-2"]
    assert InventoryLevel.objects.get(location=wh, product=sku_a).available == 0
    assert InventoryLevel.objects.get(location=wh2, product=sku_a).available == 2


def test_without_split_short_stock_waits_pending_inventory(shop, wh, wh2, sku_a):
    f.stock(wh, sku_a, 3)
    f.stock(wh2, sku_a, 3)
    f.rule("r", [wh, wh2], allow_split=False)
    order = _ingest(shop, lines=(("A", 5),))
    assert order.routing_state == "pendingInventory"
    assert ShippingRequest.objects.count() == 0
    exc = OpsException.objects.get()
    assert (exc.category, exc.code, exc.status) == ("routing", "out_of_stock", "open")
    assert InventoryLevel.objects.get(location=wh, product=sku_a).committed == 0


def test_check_inventory_off_routes_to_first_location_regardless(shop, wh, wh2, sku_a):
    f.stock(wh2, sku_a, 10)
    f.rule("r", [wh, wh2], check_inventory=False)
    order = _ingest(shop, lines=(("A", 2),))
    assert _plan(order) == [("wh-east", "A", 2)]
    level = InventoryLevel.objects.get(location=wh, product=sku_a)
    assert (level.on_hand, level.committed, level.available) == (0, 2, -2)


def test_no_rule_raises_routing_exception_once_and_retry_schedule(shop, wh, sku_a):
    order = _ingest(shop)
    services.orders_retry_routing(now=timezone.now() + timedelta(hours=1))
    order.refresh_from_db()
    exc = OpsException.objects.get()
    assert (exc.code, exc.count, order.routing_state, order.routing_attempts) == ("no_location", 2, "failed", 2)
    # when a rule is added, the next scheduled retry routes it and resolves the exception
    f.stock(wh, sku_a, 1)
    f.rule("r", [wh])
    assert services.orders_retry_routing(now=timezone.now() + timedelta(hours=2)) == 1
    order.refresh_from_db()
    assert order.routing_state == "routed"
    assert OpsException.objects.get().status == "resolved"


def test_retry_waits_for_its_time(shop, wh, sku_a):
    _ingest(shop)
    f.rule("r", [wh])
    f.stock(wh, sku_a, 1)  # a plain receive re-checks only pending-inventory orders
    assert services.orders_retry_routing(now=timezone.now()) == 0
    assert ShippingRequest.objects.count() == 0


def test_pending_inventory_rechecked_when_stock_arrives(shop, wh, sku_a, django_capture_on_commit_callbacks):
    f.rule("r", [wh])
    order = _ingest(shop, lines=(("A", 2),))
    assert order.routing_state == "pendingInventory"
    # when the 3PL reports stock (the re-check runs once the stock change has committed)
    with django_capture_on_commit_callbacks(execute=True):
        inventory_services.inventory_levels_set(location=wh, quantities={"A": {"on_hand": 2}}, reason="osa sync")
    order.refresh_from_db()
    assert order.routing_state == "routed"
    assert _plan(order) == [("wh-east", "A", 2)]
    assert OpsException.objects.get().status == "resolved"


def test_candidate_channel_location_reaches_3pl_through_links(shop, wh, sku_a):
    tiktok_wh = f.location(shop, "tt-wh")
    f.link(wh, tiktok_wh)
    f.stock(wh, sku_a, 3)
    f.rule("r", [tiktok_wh])
    order = _ingest(shop)
    sr = order.shipping_requests.get()
    assert (sr.location, sr.integration) == (wh, wh.integration)


def test_location_without_fulfillment_integration_is_not_usable(shop, sku_a):
    own = f.location(None, "own")
    f.stock(own, sku_a, 5)
    f.rule("r", [own])
    order = _ingest(shop)
    assert order.routing_state == "failed"
    assert OpsException.objects.get().code == "no_location"


def test_managed_routing_sends_whole_order_to_the_3pl(shop, sku_a, sku_b):
    managed = f.three_pl("OSA", managed=True)
    loc = f.location(managed, "osa-any")
    f.rule("r", [loc])
    order = _ingest(shop, lines=(("A", 1), ("B", 4)))
    sr = order.shipping_requests.get()
    assert (sr.managed_routing, sr.integration, sr.status) == (True, managed, "readyForFulfillment")
    assert _plan(order) == [("osa-any", "A", 1), ("osa-any", "B", 4)]


def test_bundle_expands_to_components(shop, wh, sku_a, sku_b):
    f.bundle("KIT", [(sku_a, 2), (sku_b, 1)])
    f.stock(wh, sku_a, 4)
    f.stock(wh, sku_b, 2)
    f.rule("r", [wh])
    order = _ingest(shop, lines=(("KIT", 2),))
    assert _plan(order) == [("wh-east", "A", 4), ("wh-east", "B", 2)]
    assert InventoryLevel.objects.get(location=wh, product=sku_a).available == 0


def test_bundle_short_of_a_component_waits(shop, wh, sku_a, sku_b):
    f.bundle("KIT", [(sku_a, 2), (sku_b, 1)])
    f.stock(wh, sku_a, 3)
    f.stock(wh, sku_b, 5)
    f.rule("r", [wh])
    order = _ingest(shop, lines=(("KIT", 2),))
    assert order.routing_state == "pendingInventory"


def test_bundle_preserved_at_location_that_preserves_bundles(shop, tpl, sku_a):
    kit = f.bundle("KIT", [(sku_a, 2)])
    loc = f.location(tpl, "kits", preserve_bundles=True)
    f.stock(loc, kit, 3)
    f.rule("r", [loc])
    order = _ingest(shop, lines=(("KIT", 2),))
    assert _plan(order) == [("kits", "KIT", 2)]


def test_bundle_fulfillment_marks_order_fulfilled(shop, wh, sku_a, sku_b):
    from orders.interface import FulfillmentIn

    f.bundle("KIT", [(sku_a, 2), (sku_b, 1)])
    f.stock(wh, sku_a, 4)
    f.stock(wh, sku_b, 2)
    f.rule("r", [wh])
    order = _ingest(shop, lines=(("KIT", 2),))
    sr = order.shipping_requests.get()
    services.shipping_request_mark_sent(shipping_request=sr, external_id="X")
    services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(external_id="F"))
    order.refresh_from_db()
    assert order.status == "fulfilled"
    assert InventoryLevel.objects.get(location=wh, product=sku_a).on_hand == 0


def test_reroute_cancels_unsent_requests_and_routes_again(shop, wh, wh2, sku_a, admin_user):
    f.stock(wh, sku_a, 5)
    f.stock(wh2, sku_a, 5)
    rule = f.rule("r", [wh])
    order = _ingest(shop)
    rule.candidates.update(location=wh2)
    services.order_reroute(order=order, user=admin_user)
    statuses = sorted(order.shipping_requests.values_list("reference", "status", "location__code"))
    assert statuses == [(f"SY-{order.pk}-1", "canceledRestock", "wh-east"), (f"SY-{order.pk}-2", "readyForFulfillment", "wh-west")]
    assert InventoryLevel.objects.get(location=wh, product=sku_a).committed == 0
    assert InventoryLevel.objects.get(location=wh2, product=sku_a).committed == 1


def test_reroute_refused_after_sent(shop, wh, sku_a, admin_user):
    f.stock(wh, sku_a, 5)
    f.rule("r", [wh])
    order = _ingest(shop)
    services.shipping_request_mark_sent(shipping_request=order.shipping_requests.get(), external_id="X")
    order.refresh_from_db()
    with pytest.raises(services.OrderActionError):
        services.order_reroute(order=order, user=admin_user)
    assert ShippingRequest.objects.get().status == "sentToFulfillment"


def test_country_and_state_match_names_or_codes(shop, wh, wh2, sku_a):
    f.stock(wh, sku_a, 5)
    f.stock(wh2, sku_a, 5)
    f.rule("west", [wh2], position=1, countries=["US"], regions=["CA"])
    f.rule("rest", [wh], position=2)
    order = _ingest(shop, shipping_address={"address1": "1 Main St", "postal_code": "10001", "country": "United States", "country_code": "US", "state": "CA"})
    assert _plan(order) == [("wh-west", "A", 1)]


def test_line_edit_before_sending_cancels_and_reroutes(shop, wh, sku_a):
    f.stock(wh, sku_a, 10)
    f.rule("r", [wh])
    order = _ingest(shop, lines=(("A", 1),))
    services.orders_upsert_from_channel(integration=shop, orders_in=[f.order_in(lines=(("A", 3),))])
    statuses = sorted(order.shipping_requests.values_list("status", flat=True))
    assert statuses == ["canceledRestock", "readyForFulfillment"]
    assert InventoryLevel.objects.get(product=sku_a).committed == 3
    assert _plan(order) == [("wh-east", "A", 1), ("wh-east", "A", 3)]


def test_schedules_are_declared_and_tasks_call_services(shop, wh, sku_a):
    from integrations.schedules import all_schedules
    from orders import tasks

    names = {s["name"]: s["func"] for s in all_schedules()}
    assert names["orders.release_due_holds"] == "orders.tasks.orders_release_due_task"
    assert names["orders.retry_routing"] == "orders.tasks.orders_retry_routing_task"
    assert tasks.orders_release_due_task() == 0
    assert tasks.orders_retry_routing_task() == 0
