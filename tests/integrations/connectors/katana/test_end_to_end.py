"""Every Katana flow against the emulator (the documented contract implemented): push → partial and full delivery
→ fulfillments; cancellation; products, locations and inventory; 422 on unknown fields; 429 over 60/60 s."""

import json

import pytest
import requests

from catalog.models import Product
from integrations.connectors.katana import emulator as emu
from integrations.connectors.katana.client import KatanaValidationError, make_client
from integrations.connectors.katana.models import EmuObject
from integrations.exceptions import RateLimitedError
from integrations.models import SyncRun
from inventory.models import InventoryLevel, Location
from orders.models import Fulfillment, ShippingRequest, ShippingRequestStatus

from .conftest import run_flow

pytestmark = pytest.mark.django_db


def test_order_to_katana_delivered_partially_then_fully_back_as_fulfillments(katana_integration, emulator, uk_order, make_sr):
    # products and locations first, as a user would switch them on
    assert run_flow(katana_integration, "pull_products").created == 0  # SKU-1/SKU-2 exist: updated, bound
    assert run_flow(katana_integration, "pull_locations").created == 0  # "1" exists already (katana_location)
    sr = make_sr(uk_order)
    run = run_flow(katana_integration, "push_orders")
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1
    so = EmuObject.objects.get(kind="sales_order")
    assert so.data["status"] == "NOT_SHIPPED" and so.data["ecommerce_order_id"] == "5770001"
    assert [(r["quantity"]) for r in so.data["sales_order_rows"]] == [2, 1]
    sr.refresh_from_db()
    assert sr.external_id == str(so.data["id"])
    # partial delivery: one unit of the first row
    first_row = so.data["sales_order_rows"][0]["id"]
    emu.emulator_deliver(account=emulator, sales_order_id=so.data["id"], quantities={first_row: 1})
    run_flow(katana_integration, "pull_fulfillments")
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.PARTIAL_FULFILLMENT
    f = Fulfillment.objects.get()
    assert [(line.sku, line.quantity) for line in f.lines.all()] == [("SKU-1", 1)] and f.tracking_numbers[0].startswith("KT")
    # the rest
    emu.emulator_deliver(account=emulator, sales_order_id=so.data["id"])
    state = katana_integration.flow_states.get(flow="pull_fulfillments")
    run = run_flow(katana_integration, "pull_fulfillments", trigger="admin")
    assert run.created == 1 and Fulfillment.objects.count() == 2
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FULFILLED


def test_cancellation_before_shipping_deletes_and_releases_committed_stock(katana_integration, emulator, uk_order, make_sr):
    from orders import services as order_services

    run_flow(katana_integration, "pull_products")
    sr = make_sr(uk_order)
    run_flow(katana_integration, "push_orders")
    sr.refresh_from_db()
    stock = EmuObject.objects.get(kind="inventory", key=f"1|{EmuObject.objects.get(kind='variant', data__sku='SKU-1').data['id']}")
    assert stock.data["committed"] == 2
    order_services.shipping_request_cancel(shipping_request=sr)
    run = run_flow(katana_integration, "cancel_orders")
    assert run.updated == 1
    assert EmuObject.objects.get(kind="sales_order").deleted is True
    stock.refresh_from_db()
    assert stock.data["committed"] == 0


def test_cancellation_after_delivery_is_too_late(katana_integration, emulator, uk_order, make_sr):
    from orders import services as order_services

    run_flow(katana_integration, "pull_products")
    sr = make_sr(uk_order)
    run_flow(katana_integration, "push_orders")
    so = EmuObject.objects.get(kind="sales_order")
    emu.emulator_deliver(account=emulator, sales_order_id=so.data["id"])
    order_services.shipping_request_cancel(shipping_request=ShippingRequest.objects.get(pk=sr.pk))
    run_flow(katana_integration, "cancel_orders")
    sr.refresh_from_db()
    assert sr.cancel_state == ShippingRequest.CancelState.TOO_LATE
    assert EmuObject.objects.get(kind="sales_order").deleted is False
    run_flow(katana_integration, "pull_fulfillments")
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.FULFILLED


def test_inventory_from_the_emulator_reaches_the_katana_location(katana_integration, emulator, products):
    emu.emulator_set_stock(account=emulator, sku="SKU-1", location_id=1, in_stock=40)
    run_flow(katana_integration, "pull_locations")
    run = run_flow(katana_integration, "pull_inventory")
    assert run.status == SyncRun.Status.SUCCEEDED
    location = Location.objects.get(integration=katana_integration, external_id="1")
    assert InventoryLevel.objects.get(location=location, product__sku="SKU-1").available == 40
    assert InventoryLevel.objects.get(location=location, product__sku="SKU-2").available == 25


def test_emulator_rejects_unknown_fields_with_422(katana_integration, emulator):
    client = make_client(katana_integration)
    with pytest.raises(KatanaValidationError) as caught:
        client.sales_order_create(body={"customer_id": 1234, "sales_order_rows": [], "shop": "x"})
    assert "shop" in caught.value.message and "sales_order_rows: must NOT have fewer than 1 items" in caught.value.message


def test_emulator_limits_60_requests_per_minute_with_retry_after(katana_integration, emulator):
    client = make_client(katana_integration)
    for _ in range(60):
        client.locations_list()
    with pytest.raises(RateLimitedError) as caught:
        client.locations_list()
    assert 1 <= caught.value.retry_after <= 61


def test_emulator_pages_with_x_pagination_strings(katana_integration, emulator):
    emu.emulator_seed(name="acme", api_key="katana-key-1", variants=[{"sku": f"P-{i}"} for i in range(260)])
    client = make_client(katana_integration)
    listings = list(client.iterate("/variants"))
    assert [len(li.items) for li in listings] == [250, 12] and listings[0].total_pages == 2


def test_dry_run_push_writes_nothing_anywhere(katana_integration, emulator, uk_order, make_sr):
    from integrations.models import OutboundPush

    run_flow(katana_integration, "pull_products")
    sr = make_sr(uk_order)
    run = run_flow(katana_integration, "push_orders", dry_run=True)
    assert run.status == SyncRun.Status.SUCCEEDED and run.dry_run
    assert not EmuObject.objects.filter(kind="sales_order").exists() and not OutboundPush.objects.exists()
    sr.refresh_from_db()
    assert sr.status == ShippingRequestStatus.READY_FOR_FULFILLMENT and sr.external_id == ""


def test_emulator_delivery_webhook_is_signed_and_accepted(katana_integration, emulator, uk_order, make_sr, client,
                                                          django_capture_on_commit_callbacks, responses):
    import hashlib
    import hmac

    from django.urls import reverse

    from integrations import services
    from integrations.models import FlowState

    services.integration_update_settings(integration=katana_integration,
                                         values={**katana_integration.settings, "webhooks_enabled": True})
    katana_integration.set_credentials({**katana_integration.get_credentials(), "webhook_token": "tok-1"})
    katana_integration.save()
    hook = "https://hub.example/integrations/katana/webhook/%d/" % katana_integration.pk
    emulator.webhook_url, emulator.webhook_token = hook, "tok-1"
    emulator.save()
    received = []
    responses.add_callback("POST", hook, callback=lambda r: received.append(r) or (202, {}, b""))
    run_flow(katana_integration, "pull_products")
    make_sr(uk_order)
    run_flow(katana_integration, "push_orders")
    so = EmuObject.objects.get(kind="sales_order")
    with django_capture_on_commit_callbacks(execute=True):
        emu.emulator_deliver(account=emulator, sales_order_id=so.data["id"])
    # The stock each shipped row took out (one event per variant moved), then the sales order's two events.
    assert [json.loads(r.body)["action"] for r in received] == ["current_inventory.product_updated"] * 2 + [
        "sales_order.delivered", "sales_order.updated"]
    delivered = received[2]
    body = delivered.body
    assert delivered.headers["x-sha2-signature"] == hmac.new(b"tok-1", body, hashlib.sha256).hexdigest()
    response = client.post(reverse("integrations:katana:webhook", args=[katana_integration.pk]), data=body,
                           content_type="application/json", HTTP_X_SHA2_SIGNATURE=delivered.headers["x-sha2-signature"])
    assert response.status_code == 202
    state = FlowState.objects.get(integration=katana_integration, flow="pull_fulfillments")
    assert state.pending_params == {"sales_order_ids": [str(so.data["id"])]}
    run = services.flow_run_pending(flow_state=state)
    assert run.created == 1 and Fulfillment.objects.count() == 1
