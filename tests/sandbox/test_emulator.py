"""TikTok emulator over HTTP (Django test client), signed exactly as the reference §2 describes."""
import json
import time
from unittest import mock

import pytest

from integrations.sandbox import services
from integrations.sandbox.models import EmuOrder, EmuSku, EmuToken, EmuWebhookDelivery

from .conftest import APP_KEY, APP_SECRET, PREFIX


def _order(shop, qty=1, **kwargs):
    sku = EmuSku.objects.filter(product__shop=shop).order_by("id").first()
    return services.order_create(shop=shop, items=[(sku, qty)], **kwargs)


def test_official_signing_vector():
    # reference §2.4
    got = services.sign(app_secret="e59af819cc", path="/authorization/202309/shops", query={"app_key": "29a39d", "timestamp": "1623812664"})
    assert got == "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"


def test_official_webhook_vector():
    body = (b'{"type":1,"tts_notification_id":"7380066284010030890","shop_id":"7495540735365777507","timestamp":1718305585,'
            b'"data":{"is_on_hold_order":true,"order_id":"576653688135258178","order_status":"UNPAID","update_time":1718305585}}')
    assert services.webhook_sign(app_key="abcdef", app_secret="123", body=body) == "5dec0f11ec2f6783b8deee53c9ffbf8d024302f7c7e7fa55a35d17629031ac05"


def test_authorized_shops_returns_cipher(tiktok_call, emu_shop):
    status, payload = tiktok_call("GET", "/authorization/202309/shops", cipher=False)
    assert status == 200 and payload["code"] == 0
    assert payload["data"]["shops"] == [{"id": emu_shop.shop_id, "name": "Sandbox US", "region": "US", "seller_type": "LOCAL",
                                         "cipher": emu_shop.cipher, "code": emu_shop.code}]


def test_bad_signature_is_rejected_with_106001_and_changes_nothing(tiktok_call, emu_shop):
    order = _order(emu_shop)
    status, payload = tiktok_call("POST", f"/fulfillment/202309/orders/{order.order_id}/packages",
                                  body={"tracking_number": "1Z", "shipping_provider_id": "6617675021119438849"}, secret="wrong")
    assert status == 401 and payload["code"] == 106001 and payload["data"] == {}
    assert not order.packages.exists()


def test_body_is_part_of_the_signature(tiktok_call, emu_shop):
    path = "/order/202309/orders/search"
    q = {"app_key": APP_KEY, "timestamp": str(int(time.time())), "shop_cipher": emu_shop.cipher, "page_size": "10"}
    signed_for_other_body = services.sign(app_secret=APP_SECRET, path=path, query=q, body='{"order_status":"UNPAID"}')
    status, payload = tiktok_call("POST", path, {"page_size": 10}, body={"order_status": "CANCELLED"}, sign=signed_for_other_body)
    assert (status, payload["code"]) == (401, 106001)


def test_stale_timestamp_missing_token_expired_token(tiktok_call, emu_token):
    assert tiktok_call("GET", "/logistics/202309/warehouses", ts=int(time.time()) - 301)[1]["code"] == 36009004
    assert tiktok_call("GET", "/logistics/202309/warehouses", token="")[1]["code"] == 36009004
    EmuToken.objects.filter(access_token=emu_token["access_token"]).update(access_expires_at="2000-01-01T00:00:00Z")
    assert tiktok_call("GET", "/logistics/202309/warehouses")[1]["code"] == 105002


def test_shop_cipher_required_and_unexpected(tiktok_call):
    assert tiktok_call("GET", "/logistics/202309/warehouses", cipher=False)[1]["code"] == 106013
    assert tiktok_call("GET", "/authorization/202309/shops")[1]["code"] == 36009004


def test_unknown_path_and_wrong_method(tiktok_call):
    status, payload = tiktok_call("GET", "/nope/202309/things")
    assert (status, payload["code"]) == (404, 36009009)
    assert tiktok_call("GET", "/order/202309/orders/search")[1]["code"] == 36009010


def test_oauth_code_exchange_and_refresh_rotation(client, emu_shop):
    resp = client.get(f"{PREFIX}/oauth/authorize?app_key={APP_KEY}&state=xyz")
    assert resp.status_code == 302 and resp["Location"].startswith("http://127.0.0.1:8000/cb/?code=") and "state=xyz" in resp["Location"]
    code = resp["Location"].split("code=")[1].split("&")[0]
    got = client.get(f"{PREFIX}/api/v2/token/get", {"app_key": APP_KEY, "app_secret": APP_SECRET, "auth_code": code,
                                                    "grant_type": "authorized_code"}).json()
    assert got["code"] == 0 and got["data"]["seller_base_region"] == "US" and got["data"]["access_token_expire_in"] > time.time()
    again = client.get(f"{PREFIX}/api/v2/token/get", {"app_key": APP_KEY, "app_secret": APP_SECRET, "auth_code": code,
                                                      "grant_type": "authorized_code"}).json()
    assert again["code"] != 0  # single use
    refreshed = client.get(f"{PREFIX}/api/v2/token/refresh", {"app_key": APP_KEY, "app_secret": APP_SECRET,
                                                              "refresh_token": got["data"]["refresh_token"], "grant_type": "refresh_token"}).json()
    assert refreshed["code"] == 0 and refreshed["data"]["access_token"] != got["data"]["access_token"]
    reused = client.get(f"{PREFIX}/api/v2/token/refresh", {"app_key": APP_KEY, "app_secret": APP_SECRET,
                                                           "refresh_token": got["data"]["refresh_token"], "grant_type": "refresh_token"}).json()
    assert reused["code"] != 0
    assert EmuToken.objects.get(access_token=got["data"]["access_token"]).revoked


def test_orders_search_pages_with_tokens(tiktok_call, emu_shop):
    ids = {_order(emu_shop).order_id for _ in range(5)}
    seen, token, pages = [], "", 0
    while True:
        query = {"page_size": 2, "sort_order": "ASC", **({"page_token": token} if token else {})}
        status, payload = tiktok_call("POST", "/order/202309/orders/search", query, body={})
        assert payload["code"] == 0 and payload["data"]["total_count"] == 5
        seen += [o["id"] for o in payload["data"]["orders"]]
        pages += 1
        token = payload["data"]["next_page_token"]
        if not token:
            break
    assert pages == 3 and set(seen) == ids and len(seen) == 5


def test_orders_search_tokens_are_cursors_an_order_updated_between_pages_makes_no_other_vanish(tiktok_call, emu_shop):
    # given: five orders, one a minute, with no pending life-cycle events
    base = int(time.time()) - 3600
    orders = [_order(emu_shop) for _ in range(5)]
    for i, order in enumerate(orders):
        EmuOrder.objects.filter(pk=order.pk).update(update_time=base + 60 * i, next_event_at=None, events=[])
    window = {"update_time_ge": base - 1, "update_time_lt": base + 3600}
    query = {"page_size": 2, "sort_field": "update_time", "sort_order": "ASC"}
    first = tiktok_call("POST", "/order/202309/orders/search", query, body=window)[1]["data"]
    assert [o["id"] for o in first["orders"]] == [orders[0].order_id, orders[1].order_id]
    # when: the second order is updated (it leaves the window) before page 2 is asked
    EmuOrder.objects.filter(pk=orders[1].pk).update(update_time=base + 7200)
    second = tiktok_call("POST", "/order/202309/orders/search", {**query, "page_token": first["next_page_token"]}, body=window)[1]["data"]
    # then: page 2 continues after the last order returned — the third order did not slip onto page 1
    assert [o["id"] for o in second["orders"]] == [orders[2].order_id, orders[3].order_id]
    third = tiktok_call("POST", "/order/202309/orders/search", {**query, "page_token": second["next_page_token"]}, body=window)[1]["data"]
    assert [o["id"] for o in third["orders"]] == [orders[4].order_id] and third["next_page_token"] == ""


def test_page_token_of_another_sort_is_rejected(tiktok_call, emu_shop):
    for _ in range(3):
        _order(emu_shop)
    data = tiktok_call("POST", "/order/202309/orders/search", {"page_size": 1, "sort_field": "update_time", "sort_order": "ASC"},
                       body={})[1]["data"]
    status, payload = tiktok_call("POST", "/order/202309/orders/search", {"page_size": 1, "sort_field": "create_time",
                                                                         "page_token": data["next_page_token"]}, body={})
    assert payload["code"] == 36009004 and payload["message"] == "Invalid page_token."


def test_orders_search_filters_update_time_and_status(tiktok_call, emu_shop):
    old = _order(emu_shop, at=int(time.time()) - 1000)
    EmuOrder.objects.filter(pk=old.pk).update(update_time=int(time.time()) - 1000, next_event_at=None, events=[])
    new = _order(emu_shop)
    payload = tiktok_call("POST", "/order/202309/orders/search", {"page_size": 50},
                          body={"update_time_ge": int(time.time()) - 100, "order_status": "UNPAID"})[1]
    assert [o["id"] for o in payload["data"]["orders"]] == [new.order_id]
    payload = tiktok_call("POST", "/order/202309/orders/search", {"page_size": 50}, body={"update_time_lt": int(time.time()) - 500})[1]
    assert [o["id"] for o in payload["data"]["orders"]] == [old.order_id]


def test_page_size_is_required_and_bounded(tiktok_call):
    assert tiktok_call("POST", "/order/202309/orders/search", body={})[1]["code"] == 36009004
    assert tiktok_call("POST", "/order/202309/orders/search", {"page_size": 101}, body={})[1]["code"] == 36009004


def test_remorse_window_moves_on_hold_to_awaiting_shipment_on_read(tiktok_call, emu_shop):
    t0 = int(time.time())
    order = _order(emu_shop, qty=2, at=t0)
    detail = lambda: tiktok_call("GET", "/order/202309/orders", {"ids": order.order_id})[1]["data"]["orders"][0]  # noqa: E731
    assert detail()["status"] == "UNPAID" and len(detail()["line_items"]) == 2
    with mock.patch.object(services, "now_ts", return_value=t0 + 6):
        services.shop_advance(shop=emu_shop)
    got = detail()
    assert got["status"] == "ON_HOLD" and got["recipient_address"] == {"region_code": "US"}
    with mock.patch.object(services, "now_ts", return_value=t0 + 6 + 60):
        services.shop_advance(shop=emu_shop)
    got = detail()
    assert got["status"] == "AWAITING_SHIPMENT" and got["recipient_address"]["postal_code"] == "94105"


def test_buyer_cancellation_in_remorse_window(tiktok_call, emu_shop):
    t0 = int(time.time())
    order = _order(emu_shop, at=t0, buyer_cancel_after=10)
    stock_after_order = EmuSku.objects.filter(product__shop=emu_shop).order_by("id").first().inventory
    services.shop_advance(shop=emu_shop, until=t0 + 20)
    order.refresh_from_db()
    assert order.status == "CANCELLED" and order.data["cancellation_initiator"] == "BUYER"
    payload = tiktok_call("POST", "/return_refund/202309/cancellations/search", {"page_size": 10}, body={"order_ids": [order.order_id]})[1]
    assert [c["role"] for c in payload["data"]["cancellations"]] == ["BUYER"]
    restored = EmuSku.objects.filter(product__shop=emu_shop).order_by("id").first().inventory
    assert list(restored.values())[0] == list(stock_after_order.values())[0] + 1


def test_ship_rejected_while_on_hold_then_accepted(tiktok_call, emu_shop):
    t0 = int(time.time())
    order = _order(emu_shop, at=t0 - 10)  # paid at t0-5, remorse window (60 s) until t0+55
    body = {"tracking_number": "9400100000000000000000", "shipping_provider_id": "6617675021119438849"}
    payload = tiktok_call("POST", f"/fulfillment/202309/orders/{order.order_id}/packages", body=body)[1]
    assert payload["code"] == 21011001
    services.shop_advance(shop=emu_shop, until=t0 + 100)  # remorse window over
    payload = tiktok_call("POST", f"/fulfillment/202309/orders/{order.order_id}/packages", body=body)[1]
    assert payload["code"] == 0 and payload["data"]["package_id"]
    order.refresh_from_db()
    assert order.status == "AWAITING_COLLECTION" and order.data["tracking_number"] == "9400100000000000000000"
    tracking = tiktok_call("GET", f"/fulfillment/202309/orders/{order.order_id}/tracking")[1]
    assert tracking["data"]["tracking"][0]["description"] == "Shipping label created"


def test_inventory_update_and_errors(tiktok_call, emu_shop):
    sku = EmuSku.objects.filter(product__shop=emu_shop).order_by("id").first()
    wid = list(sku.inventory)[0]
    path = f"/product/202309/products/{sku.product.product_id}/inventory/update"
    ok = tiktok_call("POST", path, body={"skus": [{"id": sku.sku_id, "inventory": [{"warehouse_id": wid, "quantity": 7}]}]})[1]
    assert ok["code"] == 0 and ok["data"] == {}
    sku.refresh_from_db()
    assert sku.inventory == {wid: 7}
    bad = tiktok_call("POST", path, body={"skus": [{"id": sku.sku_id, "inventory": [{"warehouse_id": "999", "quantity": 3}]}]})[1]
    assert bad["code"] == 0 and bad["data"]["errors"][0]["code"] == 12052097
    sku.refresh_from_db()
    assert sku.inventory == {wid: 7}
    search = tiktok_call("POST", "/product/202309/inventory/search", body={"sku_ids": [sku.sku_id]})[1]
    assert search["data"]["inventory"][0]["skus"][0]["total_available_quantity"] == 7


def test_products_warehouses_providers(tiktok_call, emu_shop):
    products = tiktok_call("POST", "/product/202309/products/search", {"page_size": 10}, body={})[1]["data"]
    assert products["total_count"] == 1 and [s["seller_sku"] for s in products["products"][0]["skus"]] == ["TEE-BLK-M", "TEE-BLK-L"]
    wh = tiktok_call("GET", "/logistics/202309/warehouses")[1]["data"]["warehouses"]
    assert len(wh) == 1 and wh[0]["is_default"] is True
    providers = tiktok_call("GET", "/logistics/202309/delivery_options/7129736823457654571/shipping_providers")[1]["data"]
    assert {"id": "6617675021119438849", "name": "USPS"} in providers["shipping_providers"]


def test_delivery_return_and_statement(tiktok_call, emu_shop):
    t0 = int(time.time()) - 2000
    order = _order(emu_shop, at=t0, return_after_delivery=10)
    services.shop_advance(shop=emu_shop, until=t0 + 100)
    with mock.patch.object(services, "now_ts", return_value=t0 + 100):
        services.package_mark_shipped(order=EmuOrder.objects.get(pk=order.pk), tracking_number="T1",
                                      shipping_provider_id="6617675021119438849", line_item_ids=[])
    services.shop_advance(shop=emu_shop, until=t0 + 1000)
    order.refresh_from_db()
    assert order.status == "DELIVERED" and order.statement is not None
    returns = tiktok_call("POST", "/return_refund/202309/returns/search", {"page_size": 10}, body={})[1]["data"]
    assert [r["order_id"] for r in returns["return_orders"]] == [order.order_id]
    assert returns["return_orders"][0]["refund_amount"]["refund_total"] == "19.99"
    approved = tiktok_call("POST", f"/return_refund/202309/returns/{returns['return_orders'][0]['return_id']}/approve", body={"decision": "APPROVE_RETURN"})[1]
    assert approved["code"] == 0
    statements = tiktok_call("GET", "/finance/202309/statements", {"sort_field": "statement_time", "page_size": 10})[1]["data"]
    assert statements["statements"][0]["revenue_amount"] == "19.99"
    tx = tiktok_call("GET", f"/finance/202501/statements/{statements['statements'][0]['id']}/statement_transactions",
                     {"sort_field": "order_create_time"})[1]["data"]
    assert [t["order_id"] for t in tx["transactions"]] == [order.order_id]
    refund = tiktok_call("POST", "/return_refund/202309/refunds/calculate", body={"order_id": order.order_id})[1]["data"]
    assert refund["order_refund_amount"]["refund_total"] == "19.99"


def test_seller_cancel_checks_reason_against_status(tiktok_call, emu_shop):
    order = _order(emu_shop)
    bad = tiktok_call("POST", "/return_refund/202309/cancellations", body={"order_id": order.order_id,
                                                                           "cancel_reason": "seller_cancel_reason_out_of_stock"})[1]
    assert bad["code"] == 25001021
    order.refresh_from_db()
    assert order.status == "UNPAID"
    ok = tiktok_call("POST", "/return_refund/202309/cancellations", body={"order_id": order.order_id,
                                                                          "cancel_reason": "seller_cancel_unpaid_reason_out_of_stock"})[1]
    assert ok["code"] == 0 and ok["data"]["cancel_status"] == "CANCELLATION_REQUEST_COMPLETE"


def test_rate_limit_429(tiktok_call, emu_shop):
    emu_shop.qps = 2
    emu_shop.save()
    now = int(time.time())
    with mock.patch.object(services, "now_ts", return_value=now):
        codes = [tiktok_call("GET", "/logistics/202309/warehouses", ts=now) for _ in range(3)]
    assert [c[0] for c in codes] == [200, 200, 429]
    assert codes[2][1]["code"] == 36009002


def test_webhooks_are_signed_as_tiktok_signs_them(db, emu_app, responses, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "http://127.0.0.1:8000"
    shop = services.shop_create(app=emu_app, name="Hooked", region="US")
    services.product_create(shop=shop, title="Cap", skus=[{"seller_sku": "CAP", "price": "5.00"}])
    responses.add("POST", "http://127.0.0.1:8000/integrations/tiktok/webhook/", status=200)
    with django_capture_on_commit_callbacks(execute=True):
        order = _order(shop)
    call = responses.calls[0]
    body = json.loads(call.request.body)
    assert body["type"] == 1 and body["shop_id"] == shop.shop_id and body["data"]["order_id"] == order.order_id
    assert body["data"]["order_status"] == "UNPAID"
    assert call.request.headers["Authorization"] == services.webhook_sign(app_key=APP_KEY, app_secret=APP_SECRET, body=call.request.body)
    assert EmuWebhookDelivery.objects.get().status_code == 200


def test_webhook_failure_never_fails_the_emulator(db, emu_app, responses, django_capture_on_commit_callbacks):
    import requests

    shop = services.shop_create(app=emu_app, name="Down", region="US", webhook_url="http://127.0.0.1:9/hook/")
    services.product_create(shop=shop, title="Cap", skus=[{"seller_sku": "CAP", "price": "5.00"}])
    responses.add("POST", "http://127.0.0.1:9/hook/", body=requests.ConnectionError("refused"))
    with django_capture_on_commit_callbacks(execute=True):
        order = _order(shop)
    assert EmuOrder.objects.filter(pk=order.pk).exists()
    assert EmuWebhookDelivery.objects.get().error == "ConnectionError"


def test_future_orders_are_hidden_and_announced_when_due(tiktok_call, emu_shop, responses, django_capture_on_commit_callbacks):
    emu_shop.webhooks_enabled = True
    emu_shop.webhook_url = "http://127.0.0.1:9/hook/"
    emu_shop.save()
    responses.add("POST", "http://127.0.0.1:9/hook/", status=200)
    t0 = int(time.time())
    with django_capture_on_commit_callbacks(execute=True):
        order = _order(emu_shop, at=t0 + 600)
    assert len(responses.calls) == 0
    assert tiktok_call("POST", "/order/202309/orders/search", {"page_size": 10}, body={})[1]["data"]["total_count"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        services.shop_advance(shop=emu_shop, until=t0 + 600)
    assert [json.loads(c.request.body)["data"]["order_id"] for c in responses.calls] == [order.order_id]
