"""TikTok → routing → OSA → fulfillment → TikTok, in one test with both connectors, the orders core and
both emulators (the TikTok sandbox and the OSA emulator), every HTTP call served by Django's test client."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db


@pytest.fixture
def local_http(responses, settings):
    """Every call to SITE_URL goes to this Django app in-process."""
    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.SANDBOX_ENABLED = True
    client = Client()

    def forward(request):
        parts = urlsplit(request.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {
            "HTTP_" + k.upper().replace("-", "_"): v
            for k, v in request.headers.items()
            if k.lower() not in ("content-type", "content-length", "host")
        }
        body = request.body or b""
        response = client.generic(
            request.method, path, data=body, content_type=request.headers.get("Content-Type", "application/json"), **headers
        )
        return response.status_code, {k: v for k, v in response.items() if k.lower() == "retry-after"}, response.content

    for method in ("GET", "POST", "PUT", "DELETE"):
        responses.add_callback(method, re.compile(r"http://127\.0\.0\.1:8000/.*"), callback=forward)
    return client


def _run(integration, flow, **params):
    from integrations import services

    state = integration.flow_states.get(flow=flow)
    return services.flow_run(flow_state=state, params=params)


def test_tiktok_order_fulfilled_by_osa_reaches_tiktok(local_http, monkeypatch):
    from integrations.connectors.osa.models import EmuAccount
    from integrations.models import Integration, Mapping
    from integrations.sandbox import demo
    from integrations.sandbox import services as tiktok_emu
    from integrations.sandbox.models import EmuShop, EmuSku
    from orders import services as order_services
    from orders.models import Fulfillment, Order, ShippingRequest

    # given: the demo world without its generated traffic; OSA ships at once; the shipping method is mapped
    monkeypatch.setattr(demo, "_traffic", lambda shops: 0)
    demo.demo_seed()
    us, osa = Integration.objects.get(name=demo.US_NAME), Integration.objects.get(name=demo.OSA_NAME)
    EmuAccount.objects.filter(domain=demo.OSA_DOMAIN).update(accept_delay_seconds=0, ship_delay_seconds=0)
    shop = EmuShop.objects.get(name="Sandbox Shop US")
    sku = EmuSku.objects.get(product__shop=shop, seller_sku="CAP-RED")
    # TikTok's "exclude orders before" defaults to the integration's creation time, which has microseconds, while
    # TikTok's create_time is whole seconds: an order placed in the same second just after the integration was
    # created is skipped as "created before the exclusion date" (tiktok/mappers_orders.skip_reason compares
    # without flooring; that was this test's intermittent "no order pulled"). Pin the setting a minute back so
    # the outcome does not depend on where demo_seed ends within a second.
    from integrations import services

    services.integration_update_settings(
        integration=us, values={**us.settings, "orders_exclude_before": (timezone.now() - timedelta(minutes=1)).isoformat()})
    emu_order = tiktok_emu.order_create(shop=shop, items=[(sku, 2)])
    tiktok_emu.shop_advance(shop=shop, until=tiktok_emu.now_ts() + 60)
    emu_order.refresh_from_db()
    method = tiktok_emu.order_payload(emu_order).get("delivery_option_name", "")
    Mapping.objects.get_or_create(integration=osa, kind="shipping_method", source=method, defaults={"target": "OSA_GROUND"})

    # when: TikTok order pulled, hold released, routed to OSA, pushed, shipped, pulled back, pushed to TikTok
    pulled = _run(us, "pull_orders", order_ids=[emu_order.order_id])  # targeted, as a webhook-triggered pull
    order = Order.objects.get(integration=us, external_id=emu_order.order_id)
    order_services.orders_release_due(now=timezone.now() + timedelta(minutes=5))
    sr = ShippingRequest.objects.get(order=order)
    pushed = _run(osa, "push_shipping_requests")
    fulfilled = _run(osa, "pull_fulfillments")
    back = _run(us, "push_fulfillments")

    # then
    assert pulled.status in ("succeeded", "partial") and pushed.created == 1 and fulfilled.created == 1
    sr.refresh_from_db()
    fulfillment = Fulfillment.objects.get(order=order)
    assert sr.integration == osa and sr.status == "fulfilled" and fulfillment.integration == osa
    assert back.status == "succeeded"
    emu_order.refresh_from_db()
    package_tracking = [p.tracking_number for p in emu_order.packages.all()]
    assert package_tracking == fulfillment.tracking_numbers
