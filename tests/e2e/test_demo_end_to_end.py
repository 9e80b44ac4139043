"""The demo, headless: live server (back office + TikTok and OSA sandboxes over real HTTP), flows run as the
worker runs them (tasks inline in test settings), and an order goes end to end:
TikTok order → pulled → held → released → routed → shipping request to OSA → shipped by OSA →
fulfillment pulled → tracking pushed to TikTok; inventory flows back to TikTok."""
from datetime import timedelta

import pytest
from django.db.models import F
from django.utils import timezone

from integrations import services
from integrations.models import FlowState
from integrations.sandbox import services as emu
from integrations.sandbox.demo import demo_seed
from integrations.sandbox.models import EmuOrder, EmuProduct, EmuShop, EmuSku

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _run(integration: str, flow: str):
    state = FlowState.objects.get(integration__name=integration, flow=flow)
    run = services.flow_run(flow_state=state, trigger="command")
    assert run.status in ("succeeded", "partial"), f"{integration}.{flow}: {run.status} {run.error_message} {run.errors}"
    return run


@pytest.fixture
def demo(live_server, settings):
    settings.SITE_URL = live_server.url
    settings.SANDBOX_ENABLED = True
    demo_seed()
    from integrations.connectors.osa.models import EmuAccount

    EmuAccount.objects.update(accept_delay_seconds=0, ship_delay_seconds=0)
    # "Exclude orders created before" defaults to the integration's creation; the test's order is placed right after it.
    from integrations.models import Integration

    Integration.objects.update(created_at=timezone.now() - timedelta(hours=1))
    # The demo's generated traffic is spread over the coming minutes; this test drives its own order.
    EmuOrder.objects.all().delete()
    # The shop's listings exist since before this test: a poll reads up to its start minus the safety lag
    # (TikTok paging.py), so listings stamped this very second would only show on the next run.
    EmuProduct.objects.update(create_time=F("create_time") - 3600, update_time=F("update_time") - 3600)
    # No remorse wait for this test's order (the demo uses 30 s); webhooks off (the flows poll).
    EmuShop.objects.update(webhooks_enabled=False, pay_after_seconds=0, remorse_seconds=0)
    return live_server


def test_an_order_goes_end_to_end(demo):
    from orders.models import Order, OrderStatus, ShippingRequest

    shop = EmuShop.objects.get(name="Sandbox Shop US")
    tee, cap, bundle = (EmuSku.objects.get(product__shop=shop, seller_sku=s) for s in ("TEE-BLK-M", "CAP-RED", "BUNDLE-TEE-CAP"))
    # 2 tees, a cap and a virtual bundle (combined listing of a tee and a cap)
    # Placed two minutes ago: a poll reads up to its start minus the safety lag (TikTok paging.py); the demo's
    # hold (counted from the order time) is lengthened so the order is still held when pulled.
    from orders.models import HoldRule

    HoldRule.objects.update(minutes=5)
    remote = emu.order_create(shop=shop, items=[(tee, 2), (cap, 1), (bundle, 1)], at=emu.now_ts() - 120)

    for flow in ("pull_locations", "pull_products"):
        _run("TikTok US", flow)
    _run("OSA (sandbox)", "pull_locations")
    _run("OSA (sandbox)", "pull_inventory")
    _run("TikTok US", "push_inventory")
    tee.refresh_from_db()
    before = sum(tee.inventory.values())
    _run("TikTok US", "pull_orders")
    order = Order.objects.get(external_id=remote.order_id)
    assert order.status == OrderStatus.ON_HOLD and order.hold_until is not None
    # the bundle stays the line the buyer ordered; its components are lines of their own, linked to it
    assert {(ln.sku, ln.bundle_line.sku if ln.bundle_line else "", ln.quantity) for ln in order.lines.all()} == {
        ("TEE-BLK-M", "", 2), ("CAP-RED", "", 1), ("BUNDLE-TEE-CAP", "", 1), ("TEE-BLK-M", "BUNDLE-TEE-CAP", 1),
        ("CAP-RED", "BUNDLE-TEE-CAP", 1)}

    from orders.services import orders_release_due

    orders_release_due(now=timezone.now() + timedelta(minutes=4))
    order.refresh_from_db()
    request = ShippingRequest.objects.get(order=order)
    assert request.integration.name == "OSA (sandbox)"

    _run("OSA (sandbox)", "push_shipping_requests")
    request.refresh_from_db()
    assert request.external_id and request.sent_at is not None, request.status
    _run("OSA (sandbox)", "pull_order_statuses")
    _run("OSA (sandbox)", "pull_fulfillments")
    order.refresh_from_db()
    assert order.fulfillments.exists(), f"no fulfillment; order {order.status}"

    _run("TikTok US", "push_fulfillments")
    remote.refresh_from_db()
    assert remote.status == "AWAITING_COLLECTION", remote.data["line_items"]
    assert remote.data["tracking_number"] == order.fulfillments.first().tracking_numbers[0]
    assert remote.packages.get().shipping_provider_id == "6617675021119438849"  # USPS

    _run("OSA (sandbox)", "pull_inventory")
    _run("TikTok US", "push_inventory")
    tee.refresh_from_db()
    assert sum(tee.inventory.values()) == before - 3, (before, tee.inventory)  # OSA shipped 3 tees


def test_every_tiktok_flow_runs_against_the_emulator(demo):
    """Each enabled TikTok flow of the demo, once, over real HTTP against the sandbox: none fails."""
    shop = EmuShop.objects.get(name="Sandbox Shop US")
    tee = EmuSku.objects.get(product__shop=shop, seller_sku="TEE-BLK-M")
    delivered = emu.order_create(shop=shop, items=[(tee, 1)], at=emu.now_ts() - 5, return_after_delivery=0)
    emu.shop_advance(shop=shop)
    emu.package_mark_shipped(order=EmuOrder.objects.get(pk=delivered.pk), tracking_number="9400000000000000000001",
                             shipping_provider_id="6617675021119438849", line_item_ids=[])
    emu.shop_advance(shop=shop, until=emu.now_ts() + 3600)  # carrier delivers, buyer asks for a return, statement settles
    delivered.refresh_from_db()
    assert delivered.status == "DELIVERED" and delivered.returns.count() == 1
    states = FlowState.objects.filter(integration__name="TikTok US", enabled=True).order_by("flow")
    assert {s.flow for s in states} >= {"pull_orders", "push_fulfillments", "push_inventory", "pull_returns", "pull_statements"}
    for state in states:
        _run("TikTok US", state.flow)


def test_demo_pushes_a_catalog_product_to_the_emulated_us_shop(demo, settings):
    """Issue 16: "Prepare for Product Push to TikTok" stores what blocks a listing ("Export Incomplete Products"
    reads it), and product push lists the complete product in the emulated US shop (image fetched from the demo's
    image host, uploaded, category attributes filled, the stock carried)."""
    from catalog.models import ChannelOption

    settings.FETCH_ALLOW_LOOPBACK = True
    _run("TikTok US", "prepare_products")
    blocks = ChannelOption.objects.get(integration__name="TikTok US", product__sku="BLOCKS-100")
    assert {p["field"] for p in blocks.readiness_problems} >= {"product_certifications", "attribute:Age Range"}
    assert ChannelOption.objects.get(integration__name="TikTok US", product__sku="TOTE-NAT").readiness_problems == []

    pushed = _run("TikTok US", "push_products")
    assert pushed.created == 1, pushed.errors

    shop = EmuShop.objects.get(name="Sandbox Shop US")
    listing = EmuProduct.objects.get(shop=shop, skus__seller_sku="TOTE-NAT")
    assert listing.status == "PENDING" and listing.data["category_id"] == "824712"
    assert listing.data["main_images"][0]["uri"].startswith("tos-emu-i-sandbox/")
    assert not EmuProduct.objects.filter(skus__seller_sku="BLOCKS-100").exists()
    assert not EmuProduct.objects.filter(shop__name="Sandbox Shop UK", skus__seller_sku="TOTE-NAT").exists()
    tote = ChannelOption.objects.get(integration__name="TikTok US", product__sku="TOTE-NAT")
    assert tote.remote_product_id == listing.product_id
