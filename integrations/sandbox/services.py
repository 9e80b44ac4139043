"""TikTok Shop emulator: shop set-up, OAuth, time-driven order life cycle, webhooks (reference §1, §4-§10).

Time moves on read: every request for a shop first applies the buyer/carrier events that fell due
(`shop_advance`), so no background thread is needed and any process sees the same state."""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

import requests
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from integrations.sandbox.models import (
    EmuApp, EmuAuthCode, EmuCancellation, EmuOrder, EmuPackage, EmuRateWindow, EmuReturn, EmuShop, EmuSku,
    EmuStatement, EmuToken, EmuWarehouse, EmuWebhookDelivery,
)

log = logging.getLogger(__name__)

SANDBOX_PREFIX = "/integrations/sandbox/tiktok"
AUTH_CODE_TTL = timedelta(minutes=30)

WEBHOOK_ORDER_STATUS = 1
WEBHOOK_ADDRESS_UPDATE = 3
WEBHOOK_PACKAGE_UPDATE = 4
WEBHOOK_CANCELLATION_STATUS = 11
WEBHOOK_RETURN_STATUS = 12

SHIPPING_PROVIDERS = {
    "US": [("6617675021119438849", "USPS"), ("6617675021119438850", "UPS"), ("6617675021119438851", "FedEx")],
    "GB": [("6617675021119438901", "Royal Mail"), ("6617675021119438902", "EVRi"), ("6617675021119438903", "DPD UK")],
}


def now_ts() -> int:
    return int(timezone.now().timestamp())


def new_id(digits: int = 18) -> str:
    return str(secrets.randbelow(9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def money(value) -> str:
    return f"{Decimal(value):.2f}"


# --- signing (reference §2, §10.3); kept here so the emulator checks the client independently ---

def sign(*, app_secret: str, path: str, query: dict, body: str = "", content_type: str = "application/json") -> str:
    base = path + "".join(f"{k}{query[k]}" for k in sorted(query) if k not in ("sign", "access_token"))
    if body and not content_type.startswith("multipart/form-data"):
        base += body
    return hmac.new(app_secret.encode(), f"{app_secret}{base}{app_secret}".encode(), hashlib.sha256).hexdigest()


def webhook_sign(*, app_key: str, app_secret: str, body: bytes) -> str:
    return hmac.new(app_secret.encode(), app_key.encode() + body, hashlib.sha256).hexdigest()


# --- shop set-up ---

def app_ensure(*, app_key: str, app_secret: str, redirect_url: str = "") -> EmuApp:
    app, created = EmuApp.objects.get_or_create(app_key=app_key, defaults={"app_secret": app_secret, "redirect_url": redirect_url,
                                                                           "service_id": new_id(16)})
    if not created and (app.app_secret != app_secret or (redirect_url and app.redirect_url != redirect_url)):
        app.app_secret = app_secret
        app.redirect_url = redirect_url or app.redirect_url
        app.save()
    return app


def shop_create(*, app: EmuApp, name: str, region: str = "US", currency: str = "USD", remorse_seconds: int = 3600,
                warehouses: int = 1, **options) -> EmuShop:
    shop = EmuShop.objects.create(
        app=app, name=name, region=region, currency=currency, remorse_seconds=remorse_seconds,
        shop_id=new_id(19), cipher=f"ROW_{secrets.token_urlsafe(24)}", code=f"{region}LC{secrets.randbelow(10 ** 6):06d}",
        open_id=secrets.token_urlsafe(16), **options,
    )
    for i in range(warehouses):
        EmuWarehouse.objects.create(shop=shop, warehouse_id=new_id(19), name=f"{name} warehouse {i + 1}", is_default=(i == 0),
                                    address={"region_code": region, "city": "Los Angeles" if region == "US" else "London",
                                             "full_address": f"{i + 1} Sandbox Way"})
    return shop


def product_create(*, shop: EmuShop, title: str, skus: list[dict]) -> EmuProduct:
    """`skus`: [{"seller_sku", "name", "price", "quantity", "weight"}]; quantity goes to every warehouse."""
    from integrations.sandbox.models import EmuProduct

    ts = now_ts()
    product = EmuProduct.objects.create(shop=shop, product_id=new_id(19), title=title, create_time=ts, update_time=ts)
    warehouses = list(shop.warehouses.values_list("warehouse_id", flat=True))
    EmuSku.objects.bulk_create([
        EmuSku(product=product, sku_id=new_id(19), seller_sku=s["seller_sku"], name=s.get("name", ""),
               price=Decimal(str(s.get("price", "10.00"))), weight=s.get("weight", 1),
               inventory={w: int(s.get("quantity", 100)) for w in warehouses}, combined=s.get("combined", []))
        for s in skus
    ])
    return product


# --- OAuth (reference §1.2-§1.5) ---

def auth_code_issue(*, shop: EmuShop) -> str:
    code = secrets.token_urlsafe(24)
    EmuAuthCode.objects.create(code=code, shop=shop, expires_at=timezone.now() + AUTH_CODE_TTL)
    return code


def _token_issue(shop: EmuShop) -> EmuToken:
    now = timezone.now()
    return EmuToken.objects.create(
        shop=shop, access_token=f"TTP_{secrets.token_urlsafe(32)}", refresh_token=f"TTP_{secrets.token_urlsafe(32)}",
        access_expires_at=now + timedelta(seconds=shop.access_token_ttl),
        refresh_expires_at=now + timedelta(seconds=shop.refresh_token_ttl),
    )


def token_payload(token: EmuToken) -> dict:
    shop = token.shop
    return {
        "access_token": token.access_token, "access_token_expire_in": int(token.access_expires_at.timestamp()),
        "refresh_token": token.refresh_token, "refresh_token_expire_in": int(token.refresh_expires_at.timestamp()),
        "open_id": shop.open_id, "seller_name": shop.name, "seller_base_region": shop.region, "user_type": 0,
        "granted_scopes": ["seller.order.info", "seller.fulfillment.basic", "seller.product.basic", "seller.logistics",
                           "seller.return_refund.basic", "seller.finance.info", "seller.authorization.info"],
    }


class EmuError(Exception):
    def __init__(self, code: int, message: str, status: int = 200):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _app_check(app_key: str, app_secret: str) -> EmuApp:
    app = EmuApp.objects.filter(app_key=app_key).first()
    if app is None or not hmac.compare_digest(app.app_secret.encode(), (app_secret or "").encode()):
        raise EmuError(36004004, "Invalid app_key or app_secret.", 200)
    return app


@transaction.atomic
def token_get(*, app_key: str, app_secret: str, auth_code: str, grant_type: str) -> dict:
    app = _app_check(app_key, app_secret)
    if grant_type != "authorized_code":
        raise EmuError(36004004, "Invalid grant_type.")
    code = EmuAuthCode.objects.select_for_update().filter(code=auth_code, shop__app=app).select_related("shop").first()
    if code is None or code.used or code.expires_at <= timezone.now():
        raise EmuError(36004004, "The auth_code is invalid or expired.")
    code.used = True
    code.save(update_fields=["used"])
    return token_payload(_token_issue(code.shop))


@transaction.atomic
def token_refresh(*, app_key: str, app_secret: str, refresh_token: str, grant_type: str) -> dict:
    app = _app_check(app_key, app_secret)
    if grant_type != "refresh_token":
        raise EmuError(36004004, "Invalid grant_type.")
    old = EmuToken.objects.select_for_update().filter(refresh_token=refresh_token, shop__app=app).select_related("shop").first()
    if old is None or old.revoked or old.refresh_expires_at <= timezone.now():
        raise EmuError(36004004, "The refresh_token is invalid or expired.")
    old.revoked = True  # refresh rotates: the old pair stops working
    old.save(update_fields=["revoked"])
    return token_payload(_token_issue(old.shop))


def token_set_direct(*, shop: EmuShop) -> dict:
    """Issue tokens without the browser hop (demo/test set-up)."""
    return token_payload(_token_issue(shop))


# --- request checks (reference §2, §3) ---

def request_authenticate(*, path: str, query: dict, body: str, content_type: str, access_token: str,
                         needs_cipher: bool | None) -> tuple[EmuShop, EmuToken]:
    """Check app_key, timestamp window, sign, token and shop_cipher as TikTok's gateway does."""
    app_key, ts, signature = query.get("app_key"), query.get("timestamp"), query.get("sign")
    if not app_key or not signature or not ts:
        raise EmuError(36009004, "Missing required parameter: app_key, timestamp or sign.", 401)
    app = EmuApp.objects.filter(app_key=app_key).first()
    if app is None:
        raise EmuError(36009004, "Invalid credentials. The app_key is invalid.", 401)
    try:
        ts_int = int(ts)
    except ValueError:
        raise EmuError(36009004, "Invalid timestamp.", 401) from None
    now = now_ts()
    if ts_int < now - 300 or ts_int > now + 30:
        raise EmuError(36009004, "Invalid timestamp. The timestamp is outside the accepted window.", 401)
    expected = sign(app_secret=app.app_secret, path=path, query=query, body=body, content_type=content_type)
    if not hmac.compare_digest(expected, signature.lower()):
        raise EmuError(106001, "Invalid credentials. The sign is invalid.", 401)
    if not access_token:
        raise EmuError(36009004, "Invalid credentials. The x-tts-access-token header is missing.", 401)
    token = EmuToken.objects.filter(access_token=access_token, shop__app=app).select_related("shop", "shop__app").first()
    if token is None or token.revoked:
        raise EmuError(36009004, "Invalid credentials. The x-tts-access-token is invalid.", 401)
    if token.access_expires_at <= timezone.now():
        raise EmuError(105002, "Expired credentials. The access token has expired.", 401)
    shop = token.shop
    cipher = query.get("shop_cipher")
    if needs_cipher is True:
        if not cipher:
            raise EmuError(106013, "Missing identifier. The shop_cipher query parameter is required.", 400)
        if cipher != shop.cipher:
            raise EmuError(101000, "The x-tts-access-token does not belong to the shop in shop_cipher.", 401)
    elif needs_cipher is False and cipher:
        raise EmuError(36009004, "Unexpected identifier. The shop_cipher query parameter is not required.", 400)
    return shop, token


def rate_limit_hit(*, shop: EmuShop, second: int | None = None) -> None:
    """Count the request in this shop's current second; over `qps` → HTTP 429 / 36009002.

    One upsert (INSERT … ON CONFLICT DO UPDATE … RETURNING, PostgreSQL and SQLite ≥ 3.35): workers counting the
    same second never collide on the unique key (uniq_emu_rate_window), and each gets its own request's count."""
    second = second if second is not None else now_ts()
    table = connection.ops.quote_name(EmuRateWindow._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (shop_id, second, count) VALUES (%s, %s, 1) "
            f"ON CONFLICT (shop_id, second) DO UPDATE SET count = {table}.count + 1 RETURNING count",
            [shop.pk, second],
        )
        count = cursor.fetchone()[0]
    if count > shop.qps:
        raise EmuError(36009002, "Too many requests. Please retry later.", 429)
    if count == 1:
        EmuRateWindow.objects.filter(shop=shop, second__lt=second - 60).delete()


# --- webhooks (reference §10) ---

def webhook_send(*, shop: EmuShop, type: int, data: dict) -> None:
    """Sign and post after commit; best-effort (the emulator never fails because a webhook did)."""
    if not shop.webhooks_enabled:
        return
    body = json.dumps({"type": type, "tts_notification_id": new_id(19), "shop_id": shop.shop_id, "timestamp": now_ts(),
                       "data": data}, separators=(",", ":")).encode()
    url = shop.webhook_url or f"{settings.SITE_URL.rstrip('/')}/integrations/tiktok/webhook/"
    app = shop.app

    def deliver():
        delivery = EmuWebhookDelivery(shop=shop, type=type, body=body.decode(), url=url)
        try:
            resp = requests.post(url, data=body, timeout=3, headers={
                "Content-Type": "application/json", "Authorization": webhook_sign(app_key=app.app_key, app_secret=app.app_secret, body=body)})
            delivery.status_code = resp.status_code
        except Exception as exc:  # noqa: BLE001 - best effort by design
            delivery.error = exc.__class__.__name__
        try:
            delivery.save()
        except Exception:  # noqa: BLE001
            log.warning("sandbox webhook delivery not recorded")

    transaction.on_commit(deliver)


def _order_webhook(order: EmuOrder) -> None:
    webhook_send(shop=order.shop, type=WEBHOOK_ORDER_STATUS, data={
        "order_id": order.order_id, "order_status": order.status, "is_on_hold_order": True, "update_time": order.update_time})


# --- order life cycle ---

def _schedule(order: EmuOrder, at: int, action: str) -> None:
    order.events = sorted(order.events + [[at, action]])
    order.next_event_at = order.events[0][0]


def _set_status(order: EmuOrder, status: str, ts: int) -> None:
    order.status = status
    order.update_time = ts
    display = {"ON_HOLD": "AWAITING_SHIPMENT"}.get(status, status)
    for line in order.data.get("line_items", []):
        if line.get("display_status") != "CANCELLED":
            line["display_status"] = display


ACTIVE_BEFORE_SHIP = ("UNPAID", "ON_HOLD", "AWAITING_SHIPMENT")


def _apply_event(order: EmuOrder, action: str, ts: int) -> None:
    shop = order.shop
    if action == "appear":
        _order_webhook(order)
    elif action == "pay" and order.status == "UNPAID":
        order.paid_time = ts
        order.data["paid_time"] = ts
        _set_status(order, "ON_HOLD", ts)
        _schedule(order, ts + shop.remorse_seconds, "release")
        _order_webhook(order)
    elif action == "release" and order.status == "ON_HOLD":
        _set_status(order, "AWAITING_SHIPMENT", ts)
        order.data["rts_sla_time"] = ts + 2 * 86400
        _order_webhook(order)
    elif action == "buyer_cancel" and order.status in ACTIVE_BEFORE_SHIP:
        order_cancel(order=order, role="BUYER", reason="ecom_order_to_ship_canceled_reason_change_of_mind", ts=ts)
    elif action == "edit" and order.status in ACTIVE_BEFORE_SHIP:
        addr = order.data.setdefault("recipient_address", {})
        addr["address_line2"] = f"Unit {secrets.randbelow(900) + 100}"
        addr["full_address"] = f"{addr.get('address_line1', '')}, {addr['address_line2']}, {addr.get('postal_code', '')}"
        order.data["has_updated_recipient_address"] = True
        order.update_time = ts
        webhook_send(shop=shop, type=WEBHOOK_ADDRESS_UPDATE, data={"order_id": order.order_id, "update_time": ts})
    elif action == "in_transit" and order.status == "AWAITING_COLLECTION":
        _set_status(order, "IN_TRANSIT", ts)
        order.packages.filter(status="PROCESSING").update(status="FULFILLING", update_time=ts)
        _order_webhook(order)
    elif action == "deliver" and order.status == "IN_TRANSIT":
        _set_status(order, "DELIVERED", ts)
        order.data["delivery_time"] = ts
        order.packages.exclude(status="CANCELLED").update(status="COMPLETED", update_time=ts)
        _settle(order, ts)
        _order_webhook(order)
    elif action == "return_request" and order.status == "DELIVERED":
        lines = order.data.get("line_items", [])[:1]
        if lines:
            ret = EmuReturn.objects.create(order=order, return_id=new_id(19), status="RETURN_OR_REFUND_REQUEST_PENDING",
                                           line_item_ids=[lines[0]["id"]], refund_total=Decimal(lines[0]["sale_price"]),
                                           create_time=ts, update_time=ts)
            order.update_time = ts
            webhook_send(shop=shop, type=WEBHOOK_RETURN_STATUS, data={
                "order_id": order.order_id, "return_role": "BUYER", "return_type": ret.return_type,
                "return_status": ret.status, "return_id": ret.return_id, "create_time": ts, "update_time": ts})


def _settle(order: EmuOrder, ts: int) -> None:
    day = datetime.fromtimestamp(ts, tz=dt_timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    statement, _ = EmuStatement.objects.get_or_create(shop=order.shop, statement_time=int(day.timestamp()),
                                                      defaults={"statement_id": new_id(19)})
    order.statement = statement


def shop_advance(*, shop: EmuShop, until: int | None = None) -> int:
    """Apply every scheduled event due by `until` (default now), oldest first. Returns events applied."""
    until = until or now_ts()
    applied = 0
    with transaction.atomic():
        # Lock the due orders only (of=self): locking the joined shop/app rows too would make every advance and
        # every emulated API call on the shop contend for them. Locked in id order, so two advances never deadlock.
        due = list(EmuOrder.objects.select_for_update(of=("self",)).filter(shop=shop, next_event_at__lte=until)
                   .select_related("shop", "shop__app").order_by("pk")[:500])
        for order in due:
            order.events = sorted(order.events)
            while order.events and order.events[0][0] <= until:
                at, action = order.events.pop(0)
                _apply_event(order, action, max(at, order.update_time))  # may schedule further events
                order.events = sorted(order.events)
                applied += 1
            order.next_event_at = order.events[0][0] if order.events else None
            order.save()
    return applied


def order_cancel(*, order: EmuOrder, role: str, reason: str, ts: int) -> EmuCancellation:
    cancellation = EmuCancellation.objects.create(
        order=order, cancel_id=new_id(19), role=role, cancel_type="BUYER_CANCEL" if role == "BUYER" else "CANCEL",
        status="CANCELLATION_REQUEST_COMPLETE", reason=reason, create_time=ts, update_time=ts)
    _set_status(order, "CANCELLED", ts)
    order.data.update({"cancel_reason": reason, "cancellation_initiator": role, "cancel_time": ts})
    for line in order.data.get("line_items", []):
        line["cancel_reason"], line["cancel_user"] = reason, role
    # Stock held by the order goes back to the default warehouse.
    _inventory_adjust(order, +1)
    webhook_send(shop=order.shop, type=WEBHOOK_CANCELLATION_STATUS, data={
        "order_id": order.order_id, "cancellations_role": role, "cancel_status": cancellation.status,
        "cancel_id": cancellation.cancel_id, "create_time": ts})
    _order_webhook(order)
    return cancellation


def _inventory_adjust(order: EmuOrder, sign_: int) -> None:
    counts: dict[str, int] = {}
    for line in order.data.get("line_items", []):
        counts[line["sku_id"]] = counts.get(line["sku_id"], 0) + 1
    warehouse = order.data.get("warehouse_id")
    for sku in EmuSku.objects.filter(sku_id__in=counts):
        if warehouse in sku.inventory:
            sku.inventory[warehouse] = max(0, sku.inventory[warehouse] + sign_ * counts[sku.sku_id])
            sku.save(update_fields=["inventory"])


@transaction.atomic
def order_create(*, shop: EmuShop, items: list[tuple[EmuSku, int]], at: int | None = None, buyer_cancel_after: int | None = None,
                 edit_after: int | None = None, return_after_delivery: int | None = None, rng=None) -> EmuOrder:
    """A buyer places an order (UNPAID); payment, remorse release and buyer actions are scheduled."""
    import random

    rng = rng or random.Random()
    ts = at or now_ts()
    warehouse = shop.warehouses.filter(is_default=True).first() or shop.warehouses.first()
    lines, subtotal = [], Decimal("0")
    for sku, qty in items:
        for _ in range(qty):  # one line item per unit (reference §4.3)
            lines.append({
                "id": new_id(18), "sku_id": sku.sku_id, "seller_sku": sku.seller_sku, "product_id": sku.product.product_id,
                "product_name": sku.product.title, "sku_name": sku.name, "original_price": money(sku.price),
                "sale_price": money(sku.price), "seller_discount": "0", "platform_discount": "0", "currency": shop.currency,
                "display_status": "UNPAID", "is_gift": False, "cancel_reason": "", "cancel_user": "",
                "item_tax": [{"tax_type": "SALES_TAX", "tax_amount": "0", "tax_rate": "0"}],
                **({"combined_listing_skus": sku.combined} if sku.combined else {})})
            subtotal += sku.price
    first, last = rng.choice(["Jane", "Sam", "Alex", "Maria", "Chen", "Priya"]), rng.choice(["Doe", "Smith", "Lee", "Garcia"])
    shipping = Decimal("4.99")
    uk = shop.region in ("GB", "UK")
    data = {
        "order_type": "NORMAL", "create_time": ts, "is_on_hold_order": True, "fulfillment_type": "FULFILLMENT_BY_SELLER",
        "shipping_type": "SELLER", "delivery_type": "HOME_DELIVERY", "delivery_option_id": "7129736823457654571",
        "delivery_option_name": "Standard shipping", "warehouse_id": warehouse.warehouse_id if warehouse else "",
        "user_id": new_id(19), "buyer_email": f"{secrets.token_hex(5)}@scs2.tiktok.com", "buyer_message": "",
        "seller_note": "", "is_cod": False, "is_sample_order": False, "cancel_reason": "", "tracking_number": "",
        "shipping_provider": "", "shipping_provider_id": "", "packages": [],
        "payment": {"currency": shop.currency, "original_total_product_price": money(subtotal), "seller_discount": "0",
                    "platform_discount": "0", "sub_total": money(subtotal), "original_shipping_fee": money(shipping),
                    "shipping_fee_seller_discount": "0", "shipping_fee_platform_discount": "0", "shipping_fee": money(shipping),
                    "product_tax": "0", "shipping_fee_tax": "0", "tax": "0", "retail_delivery_fee": "0",
                    "total_amount": money(subtotal + shipping)},
        "payment_method_name": "Credit/Debit card",
        "recipient_address": {
            "name": f"{first} {last}", "first_name": first, "last_name": last, "phone_number": "(+1)555*****21",
            "address_line1": f"{rng.randint(1, 999)} {'High Street' if uk else 'Market St'}", "address_line2": "",
            "postal_code": "SW1A 1AA" if uk else "94105", "region_code": "GB" if uk else "US",
            "post_town": "London" if uk else "",
            "full_address": "London" if uk else "San Francisco, California",
            "district_info": [{"address_level": "L0", "address_level_name": "Country",
                               "address_name": "United Kingdom" if uk else "United States"},
                              {"address_level": "L1", "address_level_name": "State", "address_name": "England" if uk else "California"},
                              {"address_level": "L3", "address_level_name": "City", "address_name": "London" if uk else "San Francisco"}]},
        "line_items": lines,
    }
    order = EmuOrder(shop=shop, order_id=new_id(18), status="UNPAID", create_time=ts, update_time=ts, data=data, events=[])
    _schedule(order, ts + shop.pay_after_seconds, "pay")
    if buyer_cancel_after is not None:
        _schedule(order, ts + shop.pay_after_seconds + buyer_cancel_after, "buyer_cancel")
    if edit_after is not None:
        _schedule(order, ts + shop.pay_after_seconds + edit_after, "edit")
    if return_after_delivery is not None:
        order.data["_return_after"] = return_after_delivery
    order.save()
    _inventory_adjust(order, -1)  # TikTok holds stock when the order is placed
    if ts > now_ts():  # placed later (generator rate): announced when it becomes visible
        _schedule(order, ts, "appear")
        order.save(update_fields=["events", "next_event_at"])
    else:
        _order_webhook(order)
    return order


def order_payload(order: EmuOrder) -> dict:
    """TikTok's order object (reference §4.3). ON_HOLD orders hide the recipient (reference §4.2)."""
    data = {k: v for k, v in order.data.items() if not k.startswith("_")}
    data.update({"id": order.order_id, "status": order.status, "create_time": order.create_time,
                 "update_time": order.update_time, "is_buyer_request_cancel": order.is_buyer_request_cancel})
    if order.paid_time:
        data["paid_time"] = order.paid_time
    if order.status in ("UNPAID", "ON_HOLD"):
        data["recipient_address"] = {"region_code": data.get("recipient_address", {}).get("region_code", "")}
    return data


# --- fulfillment ---

def package_mark_shipped(*, order: EmuOrder, tracking_number: str, shipping_provider_id: str, line_item_ids: list[str]) -> EmuPackage:
    if order.status in ("UNPAID", "ON_HOLD"):
        raise EmuError(21011001, "The order cannot be shipped in its current status (ON_HOLD/UNPAID must not be fulfilled).")
    if order.status == "CANCELLED":
        raise EmuError(21011002, "The order has been cancelled.")
    if order.status not in ("AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"):
        raise EmuError(21011003, "The order has already been shipped.")
    if not tracking_number or not shipping_provider_id:
        raise EmuError(21011004, "tracking_number and shipping_provider_id are required.")
    providers = {pid for pid, _ in SHIPPING_PROVIDERS.get(order.shop.region if order.shop.region in SHIPPING_PROVIDERS else "US", [])}
    providers |= {pid for values in SHIPPING_PROVIDERS.values() for pid, _ in values}
    if shipping_provider_id not in providers:
        raise EmuError(21011005, "The shipping_provider_id is invalid.")
    all_ids = [line["id"] for line in order.data["line_items"] if line.get("display_status") != "CANCELLED"]
    shipped = {i for p in order.packages.all() for i in p.line_item_ids}
    ids = line_item_ids or [i for i in all_ids if i not in shipped]
    unknown = [i for i in ids if i not in all_ids or i in shipped]
    if unknown or not ids:
        raise EmuError(21011006, f"Invalid order_line_item_ids: {','.join(unknown) or 'none left to ship'}.")
    ts = now_ts()
    package = EmuPackage.objects.create(order=order, package_id=new_id(19), tracking_number=tracking_number,
                                        shipping_provider_id=shipping_provider_id, line_item_ids=ids, create_time=ts, update_time=ts)
    done = shipped | set(ids)
    name = dict(p for values in SHIPPING_PROVIDERS.values() for p in values).get(shipping_provider_id, "")
    for line in order.data["line_items"]:
        if line["id"] in ids:
            line.update({"package_id": package.package_id, "package_status": "PROCESSING", "tracking_number": tracking_number,
                         "shipping_provider_id": shipping_provider_id, "shipping_provider_name": name, "rts_time": ts})
    order.data["packages"] = order.data.get("packages", []) + [{"id": package.package_id}]
    order.data.update({"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id,
                       "shipping_provider": name, "rts_time": ts})
    if all(i in done for i in all_ids):
        _set_status(order, "AWAITING_COLLECTION", ts)
        _schedule(order, ts + order.shop.transit_after_seconds, "in_transit")
        _schedule(order, ts + order.shop.transit_after_seconds + order.shop.deliver_after_seconds, "deliver")
        if order.data.get("_return_after") is not None:
            _schedule(order, ts + order.shop.transit_after_seconds + order.shop.deliver_after_seconds + order.data["_return_after"],
                      "return_request")
    else:
        _set_status(order, "PARTIALLY_SHIPPING", ts)
    order.save()
    webhook_send(shop=order.shop, type=WEBHOOK_PACKAGE_UPDATE, data={
        "sc_type": "SPLIT" if order.status == "PARTIALLY_SHIPPING" else "COMBINE", "role_type": "ROLE_SELLER",
        "package_list": [{"package_id": package.package_id, "order_id_list": [order.order_id]}], "update_time": ts})
    _order_webhook(order)
    return package


def package_update_tracking(*, package: EmuPackage, tracking_number: str, shipping_provider_id: str) -> None:
    if package.tracking_updates >= 1:
        raise EmuError(21011010, "Tracking information can only be changed once.")
    if now_ts() - package.create_time > 72 * 3600:
        raise EmuError(21011011, "Tracking information can only be changed within 72 hours of shipment.")
    ts = now_ts()
    package.tracking_number, package.shipping_provider_id = tracking_number, shipping_provider_id
    package.tracking_updates += 1
    package.update_time = ts
    package.save()
    order = package.order
    for line in order.data["line_items"]:
        if line.get("package_id") == package.package_id:
            line.update({"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id})
    order.data.update({"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id})
    order.update_time = ts
    order.save()


def inventory_update(*, shop: EmuShop, product_id: str, skus: list) -> list[dict]:
    """Reference §6.3: every assigned warehouse listed; errors per SKU in `data.errors`."""
    from integrations.sandbox.models import EmuProduct

    product = EmuProduct.objects.filter(shop=shop, product_id=product_id).first()
    if product is None:
        raise EmuError(12052048, "The product does not exist.")
    by_id = {s.sku_id: s for s in product.skus.all()}
    warehouses = set(shop.warehouses.values_list("warehouse_id", flat=True))
    errors = []
    for entry in skus or []:
        sku = by_id.get(str(entry.get("id", "")))
        if sku is None:
            errors.append({"code": 12052049, "message": "The SKU does not belong to the product.", "detail": {"sku_id": entry.get("id")}})
            continue
        new = {}
        bad = []
        for inv in entry.get("inventory") or []:
            wid = str(inv.get("warehouse_id") or (next(iter(warehouses)) if len(warehouses) == 1 else ""))
            qty = inv.get("quantity")
            if wid not in warehouses:
                bad.append({"code": 12052097, "message": "The warehouse does not exist.", "warehouse_id": wid})
            elif not isinstance(qty, int) or qty < 0 or qty > 99999:
                bad.append({"code": 12052055, "message": "Quantity is out of limits [0, 99999].", "warehouse_id": wid})
            else:
                new[wid] = qty
        if not bad and set(new) != set(sku.inventory):
            bad.append({"code": 12052230, "message": "Every warehouse assigned to the SKU must be listed.", "warehouse_id": ""})
        if bad:
            errors.append({"code": bad[0]["code"], "message": bad[0]["message"],
                           "detail": {"sku_id": sku.sku_id, "extra_errors": bad}})
            continue
        sku.inventory = new
        sku.save(update_fields=["inventory"])
    product.update_time = now_ts()
    product.save(update_fields=["update_time"])
    return errors


LINE_CANCEL_REGIONS = ("US", "GB", "UK")


def seller_cancel(*, order: EmuOrder, reason: str, line_item_ids: list | None = None) -> EmuCancellation:
    """Cancel Order (§5.4): the reason must fit the status; item-level (line_item_ids) only in US/UK shops and
    only with the out-of-stock reason; cancelling every live line item cancels the order."""
    if order.status == "UNPAID":
        if "unpaid" not in reason:
            raise EmuError(25001021, "Reason not match order status.")
    elif order.status in ("ON_HOLD", "AWAITING_SHIPMENT", "AWAITING_COLLECTION"):
        if "unpaid" in reason or not reason.startswith("seller_cancel"):
            raise EmuError(25001021, "Reason not match order status.")
    else:
        raise EmuError(25001002, "The order cannot be cancelled in its current status.")
    ids = [str(i) for i in line_item_ids or []]
    if ids:
        if order.shop.region not in LINE_CANCEL_REGIONS:
            raise EmuError(25001031, "Item-level cancellation is available in US and UK shops only.")  # emulator code
        if "out_of_stock" not in reason:
            raise EmuError(25001021, "Reason not match order status: item-level cancellation needs the out-of-stock reason.")
        lines = {str(line.get("id")): line for line in order.data.get("line_items", [])}
        live = {i for i, line in lines.items() if line.get("display_status") != "CANCELLED"}
        if any(i not in live for i in ids):
            raise EmuError(25001033, "A line item does not exist or is already cancelled.")  # emulator code
        if set(ids) != live:
            return _lines_cancel(order=order, ids=ids, reason=reason)
    cancellation = order_cancel(order=order, role="SELLER", reason=reason, ts=now_ts())
    order.save()
    return cancellation


def _lines_cancel(*, order: EmuOrder, ids: list[str], reason: str) -> EmuCancellation:
    ts = now_ts()
    cancellation = EmuCancellation.objects.create(order=order, cancel_id=new_id(19), role="SELLER", cancel_type="CANCEL",
                                                  status="CANCELLATION_REQUEST_COMPLETE", reason=reason, create_time=ts, update_time=ts)
    counts: dict[str, int] = {}
    for line in order.data.get("line_items", []):
        if str(line.get("id")) in ids:
            line.update(display_status="CANCELLED", cancel_reason=reason, cancel_user="SELLER")
            counts[line["sku_id"]] = counts.get(line["sku_id"], 0) + 1
    warehouse = order.data.get("warehouse_id")
    for sku in EmuSku.objects.filter(sku_id__in=counts):  # the cancelled units go back to stock
        if warehouse in sku.inventory:
            sku.inventory[warehouse] += counts[sku.sku_id]
            sku.save(update_fields=["inventory"])
    order.update_time = ts
    order.save()
    webhook_send(shop=order.shop, type=WEBHOOK_CANCELLATION_STATUS, data={
        "order_id": order.order_id, "cancellations_role": "SELLER", "cancel_status": cancellation.status,
        "cancel_id": cancellation.cancel_id, "create_time": ts})
    _order_webhook(order)
    return cancellation


def return_decide(*, ret: EmuReturn, approve: bool) -> EmuReturn:
    if ret.status != "RETURN_OR_REFUND_REQUEST_PENDING":
        raise EmuError(25002001, "The return is not awaiting a seller decision.")
    ts = now_ts()
    ret.status = "AWAITING_BUYER_SHIP" if approve else "REFUND_OR_RETURN_REQUEST_REJECT"
    ret.update_time = ts
    ret.save()
    order = ret.order
    order.update_time = ts
    order.save(update_fields=["update_time"])
    webhook_send(shop=order.shop, type=WEBHOOK_RETURN_STATUS, data={
        "order_id": order.order_id, "return_role": "SELLER", "return_type": ret.return_type, "return_status": ret.status,
        "return_id": ret.return_id, "create_time": ret.create_time, "update_time": ts})
    return ret


def shop_for_sandbox_integration(*, shop_id: str) -> EmuShop | None:
    return EmuShop.objects.filter(shop_id=shop_id).first()
