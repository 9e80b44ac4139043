"""Issue 16 against the TikTok emulator (integrations/sandbox): the connector's flows talk to the emulator through
its real HTTP surface (signed requests routed in-process by `responses` to the Django view), so each case runs
under the emulator's reference rules: Create Product with stock, the listing status order (recover → activate →
edit), line-item cancellations (US/UK, out of stock) and a 3PL cancellation reaching TikTok."""
from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.test import Client

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.sandbox import catalog as emu_catalog
from integrations.sandbox import services as emu
from integrations.sandbox.models import EmuOrder, EmuProduct, EmuSku
from orders import services as order_services
from orders.models import Order
from tests.integrations.connectors.tiktok.conftest import png_bytes
from tests.orders import factories as f

pytestmark = pytest.mark.django_db
HOST = "https://emu.test"
PREFIX = emu.SANDBOX_PREFIX


@pytest.fixture
def emulator(responses):
    """Every https://emu.test/... call goes to the emulator's Django view; product images come from cdn.example."""
    client = Client()

    def forward(request):
        parts = urlsplit(request.url)
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        headers = {"HTTP_X_TTS_ACCESS_TOKEN": request.headers.get("x-tts-access-token", "")}
        content_type = request.headers.get("Content-Type", "application/json")
        response = client.generic(request.method, f"{parts.path}?{parts.query}", data=body, content_type=content_type, **headers)
        return response.status_code, {"Content-Type": "application/json"}, response.content

    for method in ("GET", "POST", "PUT", "DELETE"):
        responses.add_callback(method, re.compile(re.escape(HOST) + r"/.*"), callback=forward)
    responses.add("GET", re.compile(r"https://cdn\.example/.*"), body=png_bytes(), content_type="image/png")
    return responses


@pytest.fixture
def shop(db):
    app = emu.app_ensure(app_key="emu_app", app_secret="emu_secret", redirect_url="https://switchyard.test/cb/")
    return emu.shop_create(app=app, name="Sandbox US", region="US", remorse_seconds=0, pay_after_seconds=0, webhooks_enabled=False)


def connect(shop, name="TikTok US"):
    from integrations.connectors.tiktok.auth import shop_bind
    from integrations.connectors.tiktok.tokens import tokens_store

    integration = services.integration_create(name=name, connector="tiktok", environment="production",
                                              credentials={"app_key": "emu_app", "app_secret": "emu_secret", "service_id": "svc"})
    tokens_store(integration=integration, data=emu.token_set_direct(shop=shop))
    shop_bind(integration=integration, shop={"id": shop.shop_id, "name": shop.name, "region": shop.region, "cipher": shop.cipher,
                                             "code": shop.code, "seller_type": shop.seller_type})
    integration.refresh_from_db()
    integration.remote_state = {**integration.remote_state, "api_base_url": f"{HOST}{PREFIX}"}
    integration.save(update_fields=["remote_state"])
    return integration


def configure(integration, **values):
    services.integration_update_settings(integration=integration, values=values)
    integration.refresh_from_db()


def run(integration, flow):
    return services.flow_run(flow_state=integration.flow_states.get(flow=flow))


@pytest.fixture
def tote(db):
    return Product.objects.create(
        sku="TOTE-NAT", name="Canvas Tote Bag, natural, with double handles for every day", category="824712",
        description_html="<p>Sturdy canvas tote.</p>", images=["https://cdn.example/tote.png"], price=Decimal("24.00"),
        weight=Decimal("0.5"), weight_unit="lb", custom_fields={"material": "Canvas"})


@pytest.fixture
def three_pl():
    f.register()
    yield f.three_pl()
    f.unregister()


def stock_for(integration, shop, three_pl, sku, quantity):
    from inventory.models import Location

    warehouse = shop.warehouses.get(is_default=True)
    Location.objects.get_or_create(integration=integration, external_id=warehouse.warehouse_id,
                                   defaults={"name": warehouse.name, "is_default": True, "code": "tt-us"})
    wh = f.location(three_pl, "wh-east")
    f.stock(wh, Product.objects.get(sku=sku), quantity)
    return warehouse.warehouse_id


# --- product push (items 2, 3, 4) -------------------------------------------------------------

def test_prepare_then_push_creates_the_listing_with_its_stock_in_the_emulator(emulator, shop, tote, three_pl):
    integration = connect(shop)
    warehouse_id = stock_for(integration, shop, three_pl, "TOTE-NAT", 12)
    configure(integration, prepare_product_push=True)

    prepared = run(integration, "prepare_products")
    assert prepared.status == "succeeded" and ChannelOption.objects.get(product=tote).readiness_problems == []

    configure(integration, push_products=True)
    pushed = run(integration, "push_products")

    assert pushed.status == "succeeded" and pushed.created == 1, pushed.errors
    remote = EmuProduct.objects.get(shop=shop, title=tote.name)
    assert remote.status == "PENDING" and remote.data["category_id"] == "824712"
    assert remote.data["product_attributes"] == [{"id": "100392", "values": [{"id": "1000045"}]}]
    assert EmuSku.objects.get(product=remote).inventory == {warehouse_id: 12}
    option = ChannelOption.objects.get(product=tote)
    assert option.remote_product_id == remote.product_id and option.last_pushed_inventory == {warehouse_id: 12}


def test_prepare_reports_what_the_emulated_category_requires(emulator, shop, tote):
    Product.objects.filter(pk=tote.pk).update(category="700645", custom_fields={})
    integration = connect(shop)
    configure(integration, prepare_product_push=True)

    run(integration, "prepare_products")

    fields = [p["field"] for p in ChannelOption.objects.get(product=tote).readiness_problems]
    assert fields == ["package_dimensions", "product_certifications", "attribute:Age Range"]
    assert not EmuProduct.objects.filter(title=tote.name).exists()


@pytest.mark.parametrize("remote_status, expected_status", [
    ("ACTIVATE", "ACTIVATE"), ("SELLER_DEACTIVATED", "SELLER_DEACTIVATED"), ("DELETED", "PENDING"), ("FREEZE", "FREEZE")])
def test_listing_update_in_each_state(emulator, shop, tote, remote_status, expected_status, monkeypatch):
    integration = connect(shop)
    configure(integration, push_products=True)
    assert run(integration, "push_products").created == 1
    remote = EmuProduct.objects.get(title=tote.name)
    EmuProduct.objects.filter(pk=remote.pk).update(status=remote_status)
    ChannelOption.objects.filter(product=tote).update(listing_status=remote_status)
    Product.objects.filter(pk=tote.pk).update(price=Decimal("21.00"))
    monkeypatch.setattr(emu_catalog, "AUDIT_SECONDS", 10_000)  # activation stays PENDING during the test

    result = run(integration, "push_products")

    remote.refresh_from_db()
    assert remote.status == expected_status
    price = EmuSku.objects.get(product=remote).price
    if remote_status == "FREEZE":
        assert result.failed == 1 and "frozen" in result.errors[0]["message"] and price == Decimal("24.00")
    else:
        assert result.updated == 1, result.errors
        assert price == Decimal("21.00")


# --- cancellations (item 1) ------------------------------------------------------------------

def _order_pulled(integration, shop, three_pl, skus=(("TOTE-NAT", 2),)):
    tiktok_skus = {s.seller_sku: s for s in EmuSku.objects.filter(product__shop=shop)}
    remote = emu.order_create(shop=shop, items=[(tiktok_skus[sku], qty) for sku, qty in skus], at=emu.now_ts() - 120)
    emu.shop_advance(shop=shop, until=emu.now_ts() + 5)
    wh = f.location(three_pl, "wh-east")
    for sku, _ in skus:
        f.stock(wh, Product.objects.get(sku=sku), 10)
    f.rule("all", [wh])
    configure(integration, orders_exclude_before="2020-01-01T00:00:00+00:00", cancel_push=True)
    services.flow_run(flow_state=integration.flow_states.get(flow="pull_orders"), params={"order_ids": [remote.order_id]})
    order = Order.objects.get(external_id=remote.order_id)
    from orders.models import OrderStatus

    if order.status == OrderStatus.ON_HOLD:
        from orders.services import order_release_hold

        order_release_hold(order=order)
        order.refresh_from_db()
    sr = order.shipping_requests.get()
    order_services.shipping_request_mark_sent(shipping_request=sr, external_id="OSA-1")
    return remote, order


@pytest.fixture
def listed_tote(shop, tote):
    emu.product_create(shop=shop, title="Tote", skus=[{"seller_sku": "TOTE-NAT", "price": "24.00", "quantity": 50}])
    return tote


def test_a_3pl_cancellation_cancels_the_order_in_the_emulator(emulator, shop, listed_tote, three_pl):
    integration = connect(shop)
    remote, order = _order_pulled(integration, shop, three_pl)

    order_services.shipping_request_canceled_by_fulfillment(shipping_request=order.shipping_requests.get(),
                                                           status="canceledRestock", reason="Canceled in OSA: out of stock")
    result = run(integration, "push_cancellations")
    again = run(integration, "push_cancellations")

    assert result.created == 1 and again.created == 0, result.errors
    remote.refresh_from_db()
    assert remote.status == "CANCELLED" and remote.data["cancel_reason"] == "seller_cancel_reason_out_of_stock"
    assert remote.cancellations.count() == 1


@pytest.mark.parametrize("region, cancelled_lines", [("US", 1), ("DE", 0)])
def test_a_3pl_line_cancellation_after_a_partial_shipment_is_item_level_in_us_only(emulator, shop, listed_tote, three_pl,
                                                                                    region, cancelled_lines):
    from orders.interface import FulfillmentIn, QuantityLineIn

    integration = connect(shop)
    remote, order = _order_pulled(integration, shop, three_pl)
    integration.remote_state = {**integration.remote_state, "shop_region": region}
    integration.save(update_fields=["remote_state"])
    sr = order.shipping_requests.get()
    order_services.fulfillment_record(integration=sr.integration, shipping_request=sr, fulfillment=FulfillmentIn(
        external_id="F1", carrier="USPS", tracking_numbers=("9400111899223856928499",),
        lines=(QuantityLineIn(sku="TOTE-NAT", quantity=1),)))
    order_services.shipping_request_canceled_by_fulfillment(shipping_request=sr, status="canceledRestock", reason="")

    run(integration, "push_cancellations")

    remote.refresh_from_db()
    lines = remote.data["line_items"]
    assert sum(1 for ln in lines if ln.get("display_status") == "CANCELLED") == cancelled_lines
    assert remote.status != "CANCELLED"
    if cancelled_lines:
        assert {ln.get("cancel_reason") for ln in lines if ln.get("display_status") == "CANCELLED"} == {
            "seller_cancel_reason_out_of_stock"}


# --- seller cancellation vs buyer refund request (item 5) --------------------------------------

@pytest.mark.parametrize("reject", [False, True])
def test_awaiting_collection_cancellation_meets_a_buyer_refund_request(emulator, shop, listed_tote, three_pl, reject):
    from integrations.sandbox.models import EmuReturn
    from orders.models import Cancellation

    integration = connect(shop)
    remote, order = _order_pulled(integration, shop, three_pl)
    configure(integration, reject_buyer_refund_on_seller_cancel=reject)
    EmuOrder.objects.filter(pk=remote.pk).update(status="AWAITING_COLLECTION")
    Order.objects.filter(pk=order.pk).update(channel_status="AWAITING_COLLECTION")
    ts = emu.now_ts()
    request = EmuReturn.objects.create(order=remote, return_id=emu.new_id(19), return_type="REFUND",
                                       status="RETURN_OR_REFUND_REQUEST_PENDING", line_item_ids=[remote.data["line_items"][0]["id"]],
                                       refund_total=Decimal("24.00"), create_time=ts, update_time=ts)
    Cancellation.objects.create(order=order, integration=integration, source="user", is_full=True)

    result = run(integration, "push_cancellations")

    remote.refresh_from_db()
    request.refresh_from_db()
    if reject:
        assert result.created == 1, result.errors
        assert request.status == "REFUND_OR_RETURN_REQUEST_REJECT" and remote.status == "CANCELLED"
    else:
        assert result.status == "partial" and request.status == "RETURN_OR_REFUND_REQUEST_PENDING"
        assert remote.status == "AWAITING_COLLECTION"


def test_unshipped_order_cancellation_never_asks_for_refund_requests(emulator, shop, listed_tote, three_pl):
    from orders.models import Cancellation

    integration = connect(shop)
    remote, order = _order_pulled(integration, shop, three_pl)
    Cancellation.objects.create(order=order, integration=integration, source="user", is_full=True)
    emulator.calls.reset()

    run(integration, "push_cancellations")

    assert not [c for c in emulator.calls if "/returns/search" in c.request.url]
    remote.refresh_from_db()
    assert remote.status == "CANCELLED"
