"""The seeded demo with Katana: a TikTok UK order is routed to Katana (US stays on OSA), becomes a Katana sales
order, is delivered by the emulator, its tracking reaches the emulated UK shop, and Katana stock reaches TikTok UK.
Every call goes over the sandbox URLs into the emulators (Django test client)."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.db.models import F
from django.test import Client
from django.utils import timezone

from integrations import services
from integrations.models import FlowState, Integration
from integrations.sandbox import services as emu
from integrations.sandbox.demo import demo_seed
from integrations.sandbox.models import EmuOrder, EmuProduct, EmuShop, EmuSku

pytestmark = pytest.mark.django_db


@pytest.fixture
def sandbox(responses, settings):
    settings.SANDBOX_ENABLED = True
    host = settings.SITE_URL.rstrip("/")

    def forward(request):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in request.headers.items()
                   if k.lower() not in ("content-type", "content-length")}
        body = request.body or b""
        response = Client().generic(request.method, path, data=body.encode() if isinstance(body, str) else body,
                                    content_type=request.headers.get("Content-Type", "application/json"), **headers)
        kept = {k: v for k, v in response.items() if k.lower() in ("retry-after", "content-type", "x-pagination")}
        return response.status_code, kept, response.content

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        responses.add_callback(method, re.compile(re.escape(host) + r"/.*"), callback=forward)
    demo_seed(traffic=False)
    Integration.objects.update(created_at=timezone.now() - timedelta(hours=1))
    EmuProduct.objects.update(create_time=F("create_time") - 3600, update_time=F("update_time") - 3600)
    EmuShop.objects.update(webhooks_enabled=False, pay_after_seconds=0, remorse_seconds=0)


def _run(integration: str, flow: str):
    state = FlowState.objects.get(integration__name=integration, flow=flow)
    run = services.flow_run(flow_state=state, trigger="command")
    assert run.status in ("succeeded", "partial"), f"{integration}.{flow}: {run.status} {run.error_message} {run.errors}"
    return run


def test_uk_order_goes_to_katana_and_back_to_tiktok_with_tracking_and_stock(sandbox):
    from integrations.connectors.katana import emulator as katana_emu
    from integrations.connectors.katana.models import EmuAccount, EmuObject
    from orders.models import HoldRule, Order, ShippingRequest
    from orders.services import orders_release_due

    katana = Integration.objects.get(name="Katana (sandbox)")
    assert katana.setting("channel_integrations") == ["TikTok UK"]
    assert FlowState.objects.get(integration=katana, flow="push_orders").enabled
    HoldRule.objects.update(minutes=5)
    shop = EmuShop.objects.get(name="Sandbox Shop UK")
    tee = EmuSku.objects.get(product__shop=shop, seller_sku="TEE-BLK-M")
    remote = emu.order_create(shop=shop, items=[(tee, 2)], at=emu.now_ts() - 120)
    for flow in ("pull_locations", "pull_products"):
        _run("TikTok UK", flow)
    _run("Katana (sandbox)", "pull_products")
    _run("Katana (sandbox)", "pull_locations")
    _run("Katana (sandbox)", "pull_inventory")
    _run("TikTok UK", "push_inventory")
    tee.refresh_from_db()
    before = dict(tee.inventory)
    assert before and set(before.values()) == {200}  # Katana's 200 in stock, on each linked UK warehouse
    _run("TikTok UK", "pull_orders")
    order = Order.objects.get(external_id=remote.order_id)
    orders_release_due(now=timezone.now() + timedelta(minutes=6))
    request = ShippingRequest.objects.get(order=order)
    assert request.integration.name == "Katana (sandbox)"

    _run("Katana (sandbox)", "push_orders")
    request.refresh_from_db()
    so = EmuObject.objects.get(kind="sales_order")
    assert request.external_id == str(so.data["id"]) and so.data["order_no"] == remote.order_id
    assert so.data["status"] == "NOT_SHIPPED" and so.data["ecommerce_order_type"] == "tiktok"

    katana_emu.emulator_advance(account=EmuAccount.objects.get(name="sandbox-demo"),
                                now=timezone.now() + timedelta(seconds=30))
    _run("Katana (sandbox)", "pull_fulfillments")
    order.refresh_from_db()
    fulfillment = order.fulfillments.get()
    _run("TikTok UK", "push_fulfillments")
    remote.refresh_from_db()
    assert remote.status == "AWAITING_COLLECTION"
    assert remote.data["tracking_number"] == fulfillment.tracking_numbers[0]

    FlowState.objects.filter(integration=katana, flow="pull_inventory").update(cursor={})  # past the 1-minute buffer
    _run("Katana (sandbox)", "pull_inventory")
    _run("TikTok UK", "push_inventory")
    tee.refresh_from_db()
    assert tee.inventory == {w: q - 2 for w, q in before.items()}  # Katana shipped 2 tees


def test_us_orders_stay_on_osa(sandbox):
    from orders.models import HoldRule, Order, ShippingRequest
    from orders.services import orders_release_due

    HoldRule.objects.update(minutes=5)
    shop = EmuShop.objects.get(name="Sandbox Shop US")
    tee = EmuSku.objects.get(product__shop=shop, seller_sku="TEE-BLK-M")
    remote = emu.order_create(shop=shop, items=[(tee, 1)], at=emu.now_ts() - 120)
    _run("TikTok US", "pull_orders")
    orders_release_due(now=timezone.now() + timedelta(minutes=6))
    request = ShippingRequest.objects.get(order__external_id=remote.order_id)
    assert request.integration.name == "OSA (sandbox)"
