"""Products, locations and inventory ← Katana; FBT as Done."""

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from catalog.models import Product
from integrations.models import ExternalRef, OpsException, OutboundPush, SyncRun
from inventory.models import InventoryLevel, Location
from orders.models import Order, OrderLine

from .conftest import bind_variant, load_fixture, run_flow, settings_set

pytestmark = pytest.mark.django_db


def _variant(i: int) -> dict:
    return {"id": 10000 + i, "sku": f"V-{i:04d}", "product_id": 500 + i, "type": "product", "sales_price": "12.5",
            "internal_barcode": f"BC{i}", "config_attributes": [{"config_name": "Color", "config_value": "Red"}],
            "product_or_material": {"id": 500 + i, "name": f"Mug {i}"}, "updated_at": "2026-12-01T10:00:00.000Z"}


def test_600_variants_pull_over_three_pages_creates_600_products_bound(katana_integration, katana_api):
    # given: 250 + 250 + 100, X-Pagination total_pages "3" (strings, as the community spec reports)
    variants = [_variant(i) for i in range(600)]
    for page in range(3):
        katana_api.listing("/variants", variants[page * 250:(page + 1) * 250], page=page + 1, total_pages=3,
                           match=[__import__("responses").matchers.query_param_matcher(
                               {"page": str(page + 1), "limit": "250", "extend": "product_or_material"}, strict_match=False)])
    # when
    run = run_flow(katana_integration, "pull_products")
    # then
    assert run.status == SyncRun.Status.SUCCEEDED and run.pages == 3 and run.fetched == 600 and run.created == 600
    assert Product.objects.count() == 600
    p = Product.objects.get(sku="V-0599")
    assert p.name == "Mug 599 (Red)" and p.price == Decimal("12.50") and p.barcode == "BC599"
    assert p.variant_options == {"Color": "Red"}
    ref = ExternalRef.objects.get(integration=katana_integration, kind="variant", external_id="10599")
    assert ref.object_id == p.pk
    pages = [parse_qs(urlsplit(c.request.url).query)["page"] for c in katana_api.calls_to("/variants")]
    assert pages == [["1"], ["2"], ["3"]]
    # unchanged on a re-read
    run2 = run_flow(katana_integration, "pull_products", trigger="admin")
    assert run2.created == 0 and Product.objects.count() == 600


def test_products_pull_updates_by_sku_and_maps_channel_sku(katana_integration, katana_api, products):
    from catalog.models import ChannelOption

    ChannelOption.objects.create(product=products[0], integration=katana_integration, channel_sku="KAT-1")
    katana_api.listing("/variants", [_variant(1) | {"sku": "KAT-1"}, _variant(2) | {"sku": "SKU-2", "sales_price": None}])
    run_flow(katana_integration, "pull_products")
    products[0].refresh_from_db()
    assert products[0].name == "Mug 1 (Red)" and Product.objects.count() == 2
    assert ExternalRef.objects.get(kind="variant", external_id="10001").object_id == products[0].pk
    assert ExternalRef.objects.get(kind="variant", external_id="10002").object_id == products[1].pk


def test_locations_and_inventory_pull_set_available_as_in_stock_minus_committed(katana_integration, katana_api, products):
    katana_api.fixture("GET", "/locations", "locations.json")
    run = run_flow(katana_integration, "pull_locations")
    assert run.created == 1
    location = Location.objects.get(integration=katana_integration)
    assert location.external_id == "1" and location.name == "Main warehouse" and location.reports_fulfillable
    katana_api.fixture("GET", "/inventory", "inventory__page.json")
    run = run_flow(katana_integration, "pull_inventory")
    assert run.status == SyncRun.Status.SUCCEEDED and run.updated == 2
    levels = {lvl.product.sku: lvl for lvl in InventoryLevel.objects.filter(location=location)}
    assert levels["SKU-1"].available == 37 and levels["SKU-1"].on_hand == 42
    assert levels["SKU-2"].available == 0  # 3 in stock, 7 committed: never negative
    assert OpsException.objects.get(code="location_not_linked").status == "open"
    assert "extend=variant" in katana_api.calls_to("/inventory")[0].request.url


def test_inventory_buffer_skips_until_due_and_force_resync_ignores_it(katana_integration, katana_api, products):
    katana_api.fixture("GET", "/locations", "locations.json")
    run_flow(katana_integration, "pull_locations")
    katana_api.fixture("GET", "/inventory", "inventory__page.json")
    run_flow(katana_integration, "pull_inventory")
    second = run_flow(katana_integration, "pull_inventory", trigger="admin")
    assert second.status == SyncRun.Status.SUCCEEDED and "inventory buffer" in second.note
    assert len(katana_api.calls_to("/inventory")) == 1
    settings_set(katana_integration, force_inventory_resync=True)
    third = run_flow(katana_integration, "pull_inventory", trigger="admin")
    assert len(katana_api.calls_to("/inventory")) == 2 and third.updated == 2
    katana_integration.refresh_from_db()
    assert katana_integration.settings["force_inventory_resync"] is False


def test_inventory_buffer_ends_at_the_dispatcher_tick_nearest_it(katana_integration, katana_api, products):
    # The buffer (60 min by default) is measured from the last read; a scheduled run comes at a 30-s tick, so a run
    # less than half a tick before the buffer ends reads (else a 15-min poll with a 60-min buffer read every 75 min).
    from datetime import timedelta

    from django.utils import timezone

    from integrations.models import FlowState

    katana_api.fixture("GET", "/locations", "locations.json")
    run_flow(katana_integration, "pull_locations")
    katana_api.fixture("GET", "/inventory", "inventory__page.json")
    state = FlowState.objects.filter(integration=katana_integration, flow="pull_inventory")
    settings_set(katana_integration, inventory_buffer_minutes=60)
    state.update(cursor={"taken_at": (timezone.now() - timedelta(minutes=60) + timedelta(seconds=20)).isoformat()})
    held = run_flow(katana_integration, "pull_inventory")
    assert "inventory buffer" in held.note and katana_api.calls_to("/inventory") == []
    state.update(cursor={"taken_at": (timezone.now() - timedelta(minutes=60) + timedelta(seconds=10)).isoformat()})
    read = run_flow(katana_integration, "pull_inventory")
    assert "inventory buffer" not in read.note and len(katana_api.calls_to("/inventory")) == 1


def test_inventory_at_an_unpulled_location_is_an_exception(katana_integration, katana_api, products):
    katana_api.fixture("GET", "/inventory", "inventory__page.json")
    run = run_flow(katana_integration, "pull_inventory")
    assert run.status == SyncRun.Status.PARTIAL
    assert OpsException.objects.get(code="katana_location_not_pulled").message.startswith("Katana reports stock at location 1")
    assert InventoryLevel.objects.count() == 0


@pytest.fixture
def fbt_order(channel, products):
    order = Order.objects.create(integration=channel, external_id="FBT-1", status="fulfilled", currency="GBP",
                                 fulfillment_type="platform")
    OrderLine.objects.create(order=order, sku="SKU-1", product=products[0], quantity=1, unit_price=Decimal("9.50"))
    return order


def test_fbt_order_is_created_then_set_delivered_once(katana_integration, katana_api, fbt_order, products):
    settings_set(katana_integration, push_fbt_orders=True)
    bind_variant(katana_integration, products[0], 5511)
    katana_api.ok("POST", "/sales_orders", load_fixture("sales_order__created.json") | {"id": 555})
    katana_api.ok("PATCH", "/sales_orders/555", {"id": 555, "status": "DELIVERED"})
    run = run_flow(katana_integration, "push_fbt_orders")
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    body = json.loads(katana_api.calls_to("/sales_orders", "POST")[0].request.body)
    assert body["status"] == "NOT_SHIPPED" and body["customer_ref"] == "FBT-FBT-1" and "Fulfilled by TikTok" in body["additional_info"]
    assert json.loads(katana_api.calls_to("/sales_orders/555", "PATCH")[0].request.body) == {"status": "DELIVERED"}
    push = OutboundPush.objects.get(kind="katana_fbt_sales_order")
    assert push.status == "sent" and push.remote_id == "555"
    run2 = run_flow(katana_integration, "push_fbt_orders", trigger="admin")
    assert run2.fetched == 0 and len(katana_api.calls_to("/sales_orders", "POST")) == 1


def test_fbt_status_update_failure_never_recreates(katana_integration, katana_api, fbt_order, products):
    settings_set(katana_integration, push_fbt_orders=True)
    bind_variant(katana_integration, products[0], 5511)
    katana_api.ok("POST", "/sales_orders", {"id": 555, "status": "NOT_SHIPPED", "sales_order_rows": []})
    katana_api.error("PATCH", "/sales_orders/555", status=503)
    first = run_flow(katana_integration, "push_fbt_orders")
    assert first.status == SyncRun.Status.FAILED
    katana_api.mock.reset()
    katana_api.ok("PATCH", "/sales_orders/555", {"id": 555, "status": "DELIVERED"})
    second = run_flow(katana_integration, "push_fbt_orders", trigger="admin")
    assert second.created == 1 and katana_api.calls_to("/sales_orders", "POST") == []


def test_fbt_status_refused_after_the_create_keeps_the_sales_order_for_the_retry(katana_integration, katana_api, fbt_order,
                                                                                 products):
    settings_set(katana_integration, push_fbt_orders=True)
    bind_variant(katana_integration, products[0], 5511)
    katana_api.ok("POST", "/sales_orders", {"id": 555, "status": "NOT_SHIPPED", "sales_order_rows": []})
    katana_api.error("PATCH", "/sales_orders/555", status=422, body={"statusCode": 422, "name": "UnprocessableEntityError",
                                                                      "message": "status cannot change"})
    first = run_flow(katana_integration, "push_fbt_orders")
    push = OutboundPush.objects.get(kind="katana_fbt_sales_order")
    assert (first.created, first.failed) == (0, 1)
    assert (push.status, push.attempts, push.remote_id) == ("pending", 1, "555")
    assert OpsException.objects.get(code="katana_rejected").dedup_key == f"katana:fbt:{katana_integration.pk}:{fbt_order.pk}"
    katana_api.mock.reset()
    katana_api.ok("PATCH", "/sales_orders/555", {"id": 555, "status": "DELIVERED"})
    second = run_flow(katana_integration, "push_fbt_orders", trigger="admin")
    push.refresh_from_db()
    assert second.created == 1 and katana_api.calls_to("/sales_orders", "POST") == []
    assert (push.status, push.attempts, push.remote_id) == ("sent", 2, "555")
    assert OpsException.objects.get(code="katana_rejected").status == "resolved"


def test_fbt_off_by_default_pushes_nothing(katana_integration, fbt_order):
    state = katana_integration.flow_states.get(flow="push_fbt_orders")
    assert state.enabled is False and katana_integration.settings.get("push_fbt_orders", False) is False
