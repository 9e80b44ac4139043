"""Endpoint handlers of the TikTok emulator: TikTok paths (reference §12) → service calls and TikTok's JSON.

Each handler takes (ctx, **path_params) and returns the `data` object, or raises EmuError."""
from __future__ import annotations

import base64
import hashlib
import json
import struct
import re
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q

from integrations.sandbox import catalog, services
from integrations.sandbox.models import (
    EmuCancellation, EmuOrder, EmuPackage, EmuProduct, EmuReturn, EmuShop, EmuSku, EmuStatement, EmuToken, EmuWebhookSubscription,
)
from integrations.sandbox.services import EmuError


@dataclass
class Ctx:
    shop: EmuShop
    token: EmuToken
    query: dict
    body: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)  # multipart uploads: field name → bytes


# --- paging: opaque cursor tokens over a stable sort, as TikTok pages (reference §3.4: token-based, no offsets).
# A token names the last row returned (its sort key values); the next page is the rows after it in the same
# order, so rows changing or leaving the result set between two calls never make another row skip a page.

def _cursor_token(order: tuple[str, ...], values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps({"s": list(order), "v": values}).encode()).decode().rstrip("=")


def _cursor_after(token: str | None, order: tuple[str, ...]) -> list | None:
    if not token:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if data["s"] != list(order) or len(data["v"]) != len(order):
            raise ValueError("token of another search")
        return list(data["v"])
    except Exception:  # noqa: BLE001
        raise EmuError(36009004, "Invalid page_token.", 400) from None


def _after_q(order: tuple[str, ...], values: list) -> Q:
    """Rows strictly after `values` in `order` (fields with a leading "-" descend)."""
    condition = Q(pk__in=[])
    for i, spec in enumerate(order):
        name = spec.lstrip("-")
        step = Q(**{f"{name}__{'lt' if spec.startswith('-') else 'gt'}": values[i]})
        for prior, value in zip(order[:i], values[:i]):
            step &= Q(**{prior.lstrip("-"): value})
        condition |= step
    return condition


def _page_token(offset: int) -> str:  # static lists only (brands): nothing there moves
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _page_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["o"])
    except Exception:  # noqa: BLE001
        raise EmuError(36009004, "Invalid page_token.", 400) from None


def _page_size(ctx: Ctx, maximum: int, default: int | None = None) -> int:
    raw = ctx.query.get("page_size")
    if raw in (None, ""):
        if default is None:
            raise EmuError(36009004, "page_size is required.", 400)
        return default
    try:
        size = int(raw)
    except ValueError:
        raise EmuError(36009004, "page_size must be an integer.", 400) from None
    if not 1 <= size <= maximum:
        raise EmuError(36009004, f"page_size must be between 1 and {maximum}.", 400)
    return size


def _paginate(ctx: Ctx, qs, maximum: int, default: int | None = None, *, order: tuple[str, ...] = ("id",)):
    """One page of `qs` in `order` (the last field must be unique, e.g. the pk) after the row the page token
    names → (rows, next_page_token, total_count)."""
    size = _page_size(ctx, maximum, default)
    qs = qs.order_by(*order)
    total = qs.count()
    after = _cursor_after(ctx.query.get("page_token"), order)
    if after is not None:
        qs = qs.filter(_after_q(order, after))
    rows = list(qs[:size + 1])
    more, rows = len(rows) > size, rows[:size]
    nxt = _cursor_token(order, [getattr(rows[-1], spec.lstrip("-")) for spec in order]) if more else ""
    return rows, nxt, total


def _ts(body: dict, key: str):
    value = body.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, int):
        raise EmuError(36009004, f"{key} must be a Unix timestamp in seconds.", 400)
    return value


# --- authorization / seller ---

def authorized_shops(ctx: Ctx):
    s = ctx.shop
    return {"shops": [{"id": s.shop_id, "name": s.name, "region": s.region, "seller_type": s.seller_type, "cipher": s.cipher, "code": s.code}]}


def active_shops(ctx: Ctx):
    return {"shops": [{"id": ctx.shop.shop_id, "region": ctx.shop.region}]}


# --- orders ---

def orders_search(ctx: Ctx):
    qs = EmuOrder.objects.filter(shop=ctx.shop, create_time__lte=services.now_ts())
    b = ctx.body
    if b.get("order_status"):
        qs = qs.filter(status=b["order_status"])
    for key, lookup in (("create_time_ge", "create_time__gte"), ("create_time_lt", "create_time__lt"),
                        ("update_time_ge", "update_time__gte"), ("update_time_lt", "update_time__lt")):
        value = _ts(b, key)
        if value is not None:
            qs = qs.filter(**{lookup: value})
    if "is_buyer_request_cancel" in b:
        qs = qs.filter(is_buyer_request_cancel=bool(b["is_buyer_request_cancel"]))
    if b.get("buyer_user_id"):
        qs = qs.filter(data__user_id=b["buyer_user_id"])
    sort_field = ctx.query.get("sort_field") or "create_time"
    if sort_field not in ("create_time", "update_time"):
        raise EmuError(36009004, "sort_field must be create_time or update_time.", 400)
    desc = "-" if (ctx.query.get("sort_order") or "DESC").upper() != "ASC" else ""
    rows, nxt, total = _paginate(ctx, qs, 100, order=(f"{desc}{sort_field}", f"{desc}id"))
    return {"orders": [services.order_payload(o) for o in rows], "next_page_token": nxt, "total_count": total}


def orders_detail(ctx: Ctx):
    ids = [i for i in (ctx.query.get("ids") or "").split(",") if i]
    if not ids:
        raise EmuError(36009004, "ids is required.", 400)
    if len(ids) > 50:
        raise EmuError(36009004, "At most 50 ids.", 400)
    rows = {o.order_id: o for o in EmuOrder.objects.filter(shop=ctx.shop, order_id__in=ids, create_time__lte=services.now_ts())}
    return {"orders": [services.order_payload(rows[i]) for i in ids if i in rows]}


def _order(ctx: Ctx, order_id: str) -> EmuOrder:
    order = EmuOrder.objects.filter(shop=ctx.shop, order_id=order_id).select_related("shop", "shop__app").first()
    if order is None:
        raise EmuError(21001001, "The order does not exist.", 200)
    return order


# --- fulfillment ---

def mark_package_shipped(ctx: Ctx, order_id: str):
    order = _order(ctx, order_id)
    package = services.package_mark_shipped(order=order, tracking_number=str(ctx.body.get("tracking_number") or ""),
                                            shipping_provider_id=str(ctx.body.get("shipping_provider_id") or ""),
                                            line_item_ids=[str(i) for i in ctx.body.get("order_line_item_ids") or []])
    return {"order_id": order.order_id, "order_line_item_ids": package.line_item_ids, "package_id": package.package_id}


def _package(ctx: Ctx, package_id: str) -> EmuPackage:
    package = EmuPackage.objects.filter(order__shop=ctx.shop, package_id=package_id).select_related("order", "order__shop").first()
    if package is None:
        raise EmuError(21002001, "The package does not exist.")
    return package


def ship_package(ctx: Ctx, package_id: str):
    package = _package(ctx, package_id)
    self_shipment = ctx.body.get("self_shipment") or {}
    if self_shipment:
        services.package_update_tracking(package=package, tracking_number=str(self_shipment.get("tracking_number", "")),
                                         shipping_provider_id=str(self_shipment.get("shipping_provider_id", "")))
    return {}


def package_detail(ctx: Ctx, package_id: str):
    p = _package(ctx, package_id)
    return {"package_id": p.package_id, "package_status": p.status, "order_line_item_ids": p.line_item_ids,
            "orders": [{"id": p.order.order_id}], "tracking_number": p.tracking_number,
            "shipping_provider_id": p.shipping_provider_id, "shipping_type": "SELLER", "split_and_combine_tag": "DEFAULT",
            "create_time": p.create_time, "update_time": p.update_time}


def package_shipping_info_update(ctx: Ctx, package_id: str):
    services.package_update_tracking(package=_package(ctx, package_id), tracking_number=str(ctx.body.get("tracking_number") or ""),
                                     shipping_provider_id=str(ctx.body.get("shipping_provider_id") or ""))
    return {}


def order_shipping_info_update(ctx: Ctx, order_id: str):
    order = _order(ctx, order_id)
    package = order.packages.order_by("create_time").first()
    if package is None:
        raise EmuError(21011007, "The order has not been shipped.")
    services.package_update_tracking(package=package, tracking_number=str(ctx.body.get("tracking_number") or ""),
                                     shipping_provider_id=str(ctx.body.get("shipping_provider_id") or ""))
    return {}


def order_tracking(ctx: Ctx, order_id: str):
    order = _order(ctx, order_id)
    steps = []
    if order.data.get("rts_time"):
        steps.append({"description": "Shipping label created", "update_time_millis": order.data["rts_time"] * 1000})
    if order.status in ("IN_TRANSIT", "DELIVERED", "COMPLETED"):
        steps.append({"description": "Picked up by carrier", "update_time_millis": order.update_time * 1000})
    if order.status in ("DELIVERED", "COMPLETED"):
        steps.append({"description": "Delivered", "update_time_millis": order.data.get("delivery_time", order.update_time) * 1000})
    return {"tracking": list(reversed(steps))}


# --- logistics ---

def warehouses(ctx: Ctx):
    return {"warehouses": [{"id": w.warehouse_id, "entity_id": w.warehouse_id, "name": w.name, "effect_status": "ENABLED",
                            "type": w.type, "sub_type": "DOMESTIC_WAREHOUSE", "is_default": w.is_default, "address": w.address}
                           for w in ctx.shop.warehouses.order_by("-is_default", "id")]}


def delivery_options(ctx: Ctx, warehouse_id: str):
    if not ctx.shop.warehouses.filter(warehouse_id=warehouse_id).exists():
        raise EmuError(12052097, "The warehouse does not exist.")
    return {"delivery_options": [{"id": "7129736823457654571", "name": "Standard shipping", "type": "STANDARD",
                                  "description": "Sandbox standard shipping", "platform": ["TIKTOK_SHOP"]}]}


def shipping_providers(ctx: Ctx, delivery_option_id: str):
    region = ctx.shop.region if ctx.shop.region in services.SHIPPING_PROVIDERS else "US"
    return {"shipping_providers": [{"id": pid, "name": name} for pid, name in services.SHIPPING_PROVIDERS[region]]}


# --- products and inventory ---

def _sku_payload(s: EmuSku, currency: str) -> dict:
    return {"id": s.sku_id, "seller_sku": s.seller_sku,
            "sales_attributes": [{"id": "100000", "name": "Variant", "value_name": s.name}] if s.name else [],
            "price": {"currency": currency, "sale_price": services.money(s.price), "tax_exclusive_price": services.money(s.price)},
            "inventory": [{"warehouse_id": w, "quantity": q} for w, q in sorted(s.inventory.items())]}


def products_search(ctx: Ctx):
    catalog.products_audit(ctx.shop)
    qs = EmuProduct.objects.filter(shop=ctx.shop).prefetch_related("skus")
    b = ctx.body
    if b.get("status") and b["status"] != "ALL":
        qs = qs.filter(status=b["status"])
    if b.get("seller_skus"):
        qs = qs.filter(skus__seller_sku__in=b["seller_skus"]).distinct()
    for key, lookup in (("update_time_ge", "update_time__gte"), ("update_time_le", "update_time__lte"),
                        ("create_time_ge", "create_time__gte"), ("create_time_le", "create_time__lte")):
        value = _ts(b, key)
        if value is not None:
            qs = qs.filter(**{lookup: value})
    rows, nxt, total = _paginate(ctx, qs, 100)
    return {"products": [{"id": p.product_id, "title": p.title, "status": p.status, "sales_regions": [ctx.shop.region],
                          "create_time": p.create_time, "update_time": p.update_time,
                          "skus": [_sku_payload(s, ctx.shop.currency) for s in p.skus.all()]} for p in rows],
            "next_page_token": nxt, "total_count": total}


def product_get(ctx: Ctx, product_id: str):
    """Get Product: not for FREEZE/DELETED products (§6.1)."""
    p = catalog.product_read(ctx.shop, product_id)
    return catalog.product_detail(p, ctx.shop.currency, _sku_payload)


def product_create(ctx: Ctx):
    return catalog.product_create_from_api(shop=ctx.shop, body=ctx.body)


def product_edit(ctx: Ctx, product_id: str):
    return catalog.product_edit(shop=ctx.shop, product_id=product_id, body=ctx.body)


def product_partial_edit(ctx: Ctx, product_id: str):
    return catalog.product_partial_edit(shop=ctx.shop, product_id=product_id, body=ctx.body)


def prices_update(ctx: Ctx, product_id: str):
    catalog.prices_update(shop=ctx.shop, product_id=product_id, skus=ctx.body.get("skus") or [])
    return {}


def products_status(ctx: Ctx, action: str):
    errors = catalog.products_status_change(shop=ctx.shop, action=action, product_ids=ctx.body.get("product_ids") or [])
    return {"errors": errors} if errors else {}


def categories(ctx: Ctx):
    if ctx.shop.region == "US" and ctx.query.get("category_version") not in (None, "", "v2"):
        raise EmuError(12052008, "US shops use category_version v2.")  # emulator code
    return {"categories": catalog.categories(keyword=ctx.query.get("keyword") or "")}


def category_attributes(ctx: Ctx, category_id: str):
    return {"attributes": catalog.category_attributes(category_id)}


def category_rules(ctx: Ctx, category_id: str):
    return catalog.category_rules(category_id)


def inventory_update(ctx: Ctx, product_id: str):
    errors = services.inventory_update(shop=ctx.shop, product_id=product_id, skus=ctx.body.get("skus") or [])
    return {"errors": errors} if errors else {}


def inventory_search(ctx: Ctx):
    qs = EmuSku.objects.filter(product__shop=ctx.shop).select_related("product")
    if ctx.body.get("sku_ids"):
        qs = qs.filter(sku_id__in=ctx.body["sku_ids"][:600])
    elif ctx.body.get("product_ids"):
        qs = qs.filter(product__product_id__in=ctx.body["product_ids"][:100])
    out = []
    for s in qs.order_by("id")[:600]:
        total = sum(s.inventory.values())
        out.append({"product_id": s.product.product_id, "skus": [{
            "id": s.sku_id, "seller_sku": s.seller_sku, "total_available_quantity": total, "total_committed_quantity": 0,
            "warehouse_inventory": [{"warehouse_id": w, "available_quantity": q, "committed_quantity": 0} for w, q in sorted(s.inventory.items())]}]})
    return {"inventory": out}


# --- returns, refunds, cancellations ---

def cancel_order(ctx: Ctx):
    order = _order(ctx, str(ctx.body.get("order_id") or ""))
    cancellation = services.seller_cancel(order=order, reason=str(ctx.body.get("cancel_reason") or ""),
                                          line_item_ids=ctx.body.get("order_line_item_ids") or None)
    return {"cancel_id": cancellation.cancel_id, "cancel_status": cancellation.status}


def _filter_common(qs, b: dict, prefix: str = ""):
    for key, lookup in (("create_time_ge", "create_time__gte"), ("create_time_lt", "create_time__lt"),
                        ("update_time_ge", "update_time__gte"), ("update_time_lt", "update_time__lt")):
        value = _ts(b, key)
        if value is not None:
            qs = qs.filter(**{lookup: value})
    if b.get("order_ids"):
        qs = qs.filter(order__order_id__in=b["order_ids"])
    return qs


def _sort(ctx: Ctx) -> tuple[str, str]:
    field_ = ctx.query.get("sort_field") or "create_time"
    if field_ not in ("create_time", "update_time"):
        raise EmuError(36009004, "Invalid sort_field.", 400)
    desc = "-" if (ctx.query.get("sort_order") or "ASC").upper() == "DESC" else ""
    return f"{desc}{field_}", f"{desc}id"


def _refund_amount(order: EmuOrder, line_ids, currency: str) -> dict:
    lines = [l for l in order.data.get("line_items", []) if not line_ids or l["id"] in line_ids]
    sub = sum((Decimal(l["sale_price"]) for l in lines), Decimal("0"))
    return {"currency": currency, "refund_total": services.money(sub), "refund_subtotal": services.money(sub),
            "refund_shipping_fee": "0", "refund_tax": "0", "retail_delivery_fee": "0", "buyer_service_fee": "0"}


def cancellations_search(ctx: Ctx):
    qs = _filter_common(EmuCancellation.objects.filter(order__shop=ctx.shop).select_related("order"), ctx.body)
    if ctx.body.get("cancel_ids"):
        qs = qs.filter(cancel_id__in=ctx.body["cancel_ids"])
    if ctx.body.get("cancel_status"):
        qs = qs.filter(status__in=ctx.body["cancel_status"])
    rows, nxt, total = _paginate(ctx, qs, 50, 10, order=_sort(ctx))
    return {"cancellations": [{
        "cancel_id": c.cancel_id, "order_id": c.order.order_id, "cancel_type": c.cancel_type, "cancel_status": c.status,
        "role": c.role, "cancel_reason": c.reason, "cancel_reason_text": c.reason.replace("_", " "),
        "create_time": c.create_time, "update_time": c.update_time,
        "refund_amount": _refund_amount(c.order, None, ctx.shop.currency),
        "cancel_line_items": [{"cancel_line_item_id": l["id"], "order_line_item_id": l["id"], "sku_id": l["sku_id"],
                               "seller_sku": l["seller_sku"], "product_name": l["product_name"]} for l in c.order.data.get("line_items", [])],
    } for c in rows], "next_page_token": nxt, "total_count": total}


def cancellation_decide(ctx: Ctx, cancel_id: str, decision: str):
    c = EmuCancellation.objects.filter(order__shop=ctx.shop, cancel_id=cancel_id).first()
    if c is None:
        raise EmuError(25001001, "The cancellation does not exist.")
    if c.status != "CANCELLATION_REQUEST_PENDING":
        raise EmuError(25001003, "The cancellation is not pending.")
    c.status = "CANCELLATION_REQUEST_COMPLETE" if decision == "approve" else "CANCELLATION_REQUEST_CANCEL"
    c.update_time = services.now_ts()
    c.save()
    return {}


def _return_payload(r: EmuReturn, currency: str) -> dict:
    lines = [l for l in r.order.data.get("line_items", []) if l["id"] in r.line_item_ids]
    return {"return_id": r.return_id, "order_id": r.order.order_id, "return_type": r.return_type, "return_status": r.status,
            "role": "BUYER", "return_reason": r.reason, "return_reason_text": "Wrong item", "create_time": r.create_time,
            "update_time": r.update_time, "refund_amount": _refund_amount(r.order, r.line_item_ids, currency),
            "return_line_items": [{"return_line_item_id": l["id"], "order_line_item_id": l["id"], "sku_id": l["sku_id"],
                                   "seller_sku": l["seller_sku"], "product_name": l["product_name"],
                                   "refund_amount": _refund_amount(r.order, [l["id"]], currency)} for l in lines]}


def returns_search(ctx: Ctx):
    qs = _filter_common(EmuReturn.objects.filter(order__shop=ctx.shop).select_related("order"), ctx.body)
    if ctx.body.get("return_ids"):
        qs = qs.filter(return_id__in=ctx.body["return_ids"])
    if ctx.body.get("return_status"):
        qs = qs.filter(status__in=ctx.body["return_status"])
    rows, nxt, total = _paginate(ctx, qs, 50, 10, order=_sort(ctx))
    return {"return_orders": [_return_payload(r, ctx.shop.currency) for r in rows], "next_page_token": nxt, "total_count": total}


def return_decide(ctx: Ctx, return_id: str, decision: str):
    r = EmuReturn.objects.filter(order__shop=ctx.shop, return_id=return_id).select_related("order", "order__shop__app").first()
    if r is None:
        raise EmuError(25002002, "The return does not exist.")
    services.return_decide(ret=r, approve=decision == "approve")
    return {}


def refund_calculate(ctx: Ctx):
    order = _order(ctx, str(ctx.body.get("order_id") or ""))
    return {"order_refund_amount": _refund_amount(order, ctx.body.get("order_line_item_ids"), ctx.shop.currency)}


# --- finance ---

def _order_amounts(order: EmuOrder) -> dict:
    revenue = Decimal(order.data["payment"]["sub_total"])
    shipping = -Decimal(order.data["payment"]["shipping_fee"])
    fee = -(revenue * Decimal("0.06")).quantize(Decimal("0.01"))
    return {"revenue": revenue, "shipping": shipping, "fee": fee, "settlement": revenue + shipping + fee}


def statements(ctx: Ctx):
    if ctx.query.get("sort_field") != "statement_time":
        raise EmuError(36009004, "sort_field=statement_time is required.", 400)
    qs = EmuStatement.objects.filter(shop=ctx.shop).prefetch_related("orders")
    if ctx.query.get("statement_time_ge"):
        qs = qs.filter(statement_time__gte=int(ctx.query["statement_time_ge"]))
    if ctx.query.get("statement_time_lt"):
        qs = qs.filter(statement_time__lt=int(ctx.query["statement_time_lt"]))
    desc = "-" if (ctx.query.get("sort_order") or "ASC").upper() == "DESC" else ""
    rows, nxt, total = _paginate(ctx, qs, 100, 20, order=(f"{desc}statement_time", f"{desc}id"))
    today = services.now_ts() - services.now_ts() % 86400
    out = []
    for s in rows:
        amounts = [_order_amounts(o) for o in s.orders.all()]
        tot = {k: sum((a[k] for a in amounts), Decimal("0")) for k in ("revenue", "shipping", "fee", "settlement")}
        out.append({"id": s.statement_id, "statement_time": s.statement_time, "currency": ctx.shop.currency,
                    "settlement_amount": services.money(tot["settlement"]), "revenue_amount": services.money(tot["revenue"]),
                    "fee_amount": services.money(tot["fee"]), "adjustment_amount": "0",
                    "shipping_cost_amount": services.money(tot["shipping"]), "net_sales_amount": services.money(tot["revenue"]),
                    "payment_status": "PAID" if s.statement_time < today else "PROCESSING", "payment_id": f"P{s.statement_id}",
                    "payment_time": s.statement_time + 86400 if s.statement_time < today else None})
    return {"statements": out, "next_page_token": nxt, "total_count": total}


def _transaction(order: EmuOrder) -> dict:
    a = _order_amounts(order)
    return {"id": f"T{order.order_id}", "type": "ORDER", "order_id": order.order_id, "order_create_time": order.create_time,
            "settlement_amount": services.money(a["settlement"]), "revenue_amount": services.money(a["revenue"]),
            "revenue_breakdown": {"subtotal_before_discount_amount": services.money(a["revenue"]), "seller_discount_amount": "0"},
            "shipping_cost_amount": services.money(a["shipping"]),
            "shipping_cost_breakdown": {"actual_shipping_fee_amount": services.money(a["shipping"])},
            "fee_tax_amount": services.money(a["fee"]),
            "fee_tax_breakdown": {"fee": {"referral_fee_amount": services.money(a["fee"]), "transaction_fee_amount": "0"}},
            "adjustment_amount": "0"}


def statement_transactions(ctx: Ctx, statement_id: str):
    s = EmuStatement.objects.filter(shop=ctx.shop, statement_id=statement_id).first()
    if s is None:
        raise EmuError(28001001, "The statement does not exist.")
    if ctx.query.get("sort_field") != "order_create_time":
        raise EmuError(36009004, "sort_field=order_create_time is required.", 400)
    rows, nxt, total = _paginate(ctx, s.orders.all(), 100, 20, order=("create_time", "id"))
    all_amounts = [_order_amounts(o) for o in s.orders.all()]
    settle = sum((a["settlement"] for a in all_amounts), Decimal("0"))
    return {"id": s.statement_id, "create_time": s.statement_time, "status": "SETTLED", "currency": ctx.shop.currency,
            "payable_amount": services.money(settle), "total_settlement_amount": services.money(settle), "total_reserve_amount": "0",
            "total_settlement_breakdown": {
                "total_revenue_amount": services.money(sum((a["revenue"] for a in all_amounts), Decimal("0"))),
                "total_shipping_cost_amount": services.money(sum((a["shipping"] for a in all_amounts), Decimal("0"))),
                "total_fee_tax_amount": services.money(sum((a["fee"] for a in all_amounts), Decimal("0"))),
                "total_adjustment_amount": "0"},
            "total_count": total, "next_page_token": nxt, "transactions": [_transaction(o) for o in rows]}


def order_transactions(ctx: Ctx, order_id: str):
    order = _order(ctx, order_id)
    if order.statement_id is None:
        raise EmuError(28001002, "The order has not been settled.")
    a = _order_amounts(order)
    counts: dict[str, dict] = {}
    for line in order.data.get("line_items", []):
        entry = counts.setdefault(line["sku_id"], {"sku_id": line["sku_id"], "sku_name": line["sku_name"],
                                                   "product_name": line["product_name"], "quantity": 0,
                                                   "statement_id": order.statement.statement_id, "revenue_amount": Decimal("0")})
        entry["quantity"] += 1
        entry["revenue_amount"] += Decimal(line["sale_price"])
    skus = [{**e, "revenue_amount": services.money(e["revenue_amount"])} for e in counts.values()]
    return {"order_id": order.order_id, "order_create_time": order.create_time, "currency": ctx.shop.currency,
            "revenue_amount": services.money(a["revenue"]), "fee_and_tax_amount": services.money(a["fee"]),
            "shipping_cost_amount": services.money(a["shipping"]), "settlement_amount": services.money(a["settlement"]),
            "total_count": len(skus), "sku_transactions": skus}


# --- events (webhook subscriptions) ---

def webhooks_get(ctx: Ctx):
    subs = list(EmuWebhookSubscription.objects.filter(shop=ctx.shop).order_by("event_type"))
    return {"webhooks": [{"event_type": s.event_type, "address": s.address, "create_time": s.create_time, "update_time": s.update_time}
                         for s in subs], "total_count": len(subs)}


def webhooks_put(ctx: Ctx):
    address, event_type = str(ctx.body.get("address") or ""), str(ctx.body.get("event_type") or "")
    if not address or not event_type or len(address) > 255:
        raise EmuError(36009004, "address and event_type are required.", 400)
    ts = services.now_ts()
    EmuWebhookSubscription.objects.update_or_create(shop=ctx.shop, event_type=event_type,
                                                    defaults={"address": address, "update_time": ts, "create_time": ts})
    return {}


def webhooks_delete(ctx: Ctx):
    EmuWebhookSubscription.objects.filter(shop=ctx.shop, event_type=str(ctx.body.get("event_type") or "")).delete()
    return {}


# --- customer service (minimal: conversations exist, messages are accepted) ---

def cs_create_conversation(ctx: Ctx):
    return {"conversation_id": services.new_id(19)}


def cs_send_message(ctx: Ctx, conversation_id: str):
    if not ctx.body.get("type") or "content" not in ctx.body:
        raise EmuError(36009004, "type and content are required.", 400)
    return {"message_id": services.new_id(19)}


# --- product images and brands (reference §6.1) ---

IMAGE_USE_CASES = ("MAIN_IMAGE", "ATTRIBUTE_IMAGE", "DESCRIPTION_IMAGE", "CERTIFICATION_IMAGE", "SIZE_CHART_IMAGE")
IMAGE_MAX_BYTES = 10 * 1024 * 1024


def _image_kind(content: bytes) -> str | None:
    if content[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if content[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return "webp"
    if content[:2] == b"BM":
        return "bmp"
    if content[4:8] == b"ftyp":
        return "heic"
    return None


def image_upload(ctx: Ctx):
    """Upload Product Image: multipart `data` + `use_case` → a uri derived from the bytes (same image, same uri)."""
    use_case = ctx.body.get("use_case") or ""
    if use_case not in IMAGE_USE_CASES:
        raise EmuError(12019001, f"use_case must be one of {', '.join(IMAGE_USE_CASES)}.", 400)
    content = ctx.files.get("data")
    if not content:
        raise EmuError(12019001, "The image file `data` is required (multipart/form-data).", 400)
    if len(content) > IMAGE_MAX_BYTES:
        raise EmuError(12019002, "The image is larger than 10 MB.", 400)
    kind = _image_kind(content)
    if kind is None:
        raise EmuError(12019002, "Unsupported image format; use JPG, JPEG, PNG, WEBP, HEIC or BMP.", 400)
    width = height = 0
    if kind == "png" and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
    digest = hashlib.sha256(content).hexdigest()[:32]
    uri = f"tos-emu-i-sandbox/{digest}"
    return {"uri": uri, "url": f"https://p16-sandbox.tiktokcdn.example/{uri}~tplv-{kind}.image", "width": width,
            "height": height, "use_case": use_case}


SANDBOX_BRANDS = [
    {"id": "7082427311584347905", "name": "Switchyard Basics", "authorized_status": "AUTHORIZED", "brand_status": "AVAILABLE", "is_t1_brand": False},
    {"id": "7082427311584347906", "name": "Acme", "authorized_status": "AUTHORIZED", "brand_status": "AVAILABLE", "is_t1_brand": False},
    {"id": "7082427311584347907", "name": "Northwind", "authorized_status": "UNAUTHORIZED", "brand_status": "AVAILABLE", "is_t1_brand": True},
]


def brands(ctx: Ctx):
    """Get Brands: a fixed list, filtered by `brand_name` (case-insensitive substring), paged."""
    name = (ctx.query.get("brand_name") or "").strip().lower()
    rows = [b for b in SANDBOX_BRANDS if name in b["name"].lower()]
    size = _page_size(ctx, 100, 20)
    offset = _page_offset(ctx.query.get("page_token"))
    page = rows[offset:offset + size]
    return {"brands": page, "total_count": len(rows),
            "next_page_token": _page_token(offset + size) if offset + size < len(rows) else ""}


# --- route table: (method, path regex, handler, needs shop_cipher, extra kwargs) ---
ID = r"(?P<{}>[0-9A-Za-z_-]+)"
ROUTES = [
    ("GET", r"/authorization/202309/shops", authorized_shops, False, {}),
    ("GET", r"/seller/202309/shops", active_shops, False, {}),
    ("POST", r"/order/202309/orders/search", orders_search, True, {}),
    ("GET", r"/order/(?:202309|202507)/orders", orders_detail, True, {}),
    ("POST", r"/fulfillment/202309/orders/" + ID.format("order_id") + "/packages", mark_package_shipped, True, {}),
    ("POST", r"/fulfillment/202309/packages/" + ID.format("package_id") + "/ship", ship_package, True, {}),
    ("GET", r"/fulfillment/202309/packages/" + ID.format("package_id"), package_detail, True, {}),
    ("POST", r"/fulfillment/202309/packages/" + ID.format("package_id") + "/shipping_info/update", package_shipping_info_update, True, {}),
    ("POST", r"/fulfillment/202309/orders/" + ID.format("order_id") + "/shipping_info/update", order_shipping_info_update, True, {}),
    ("GET", r"/fulfillment/202309/orders/" + ID.format("order_id") + "/tracking", order_tracking, True, {}),
    ("GET", r"/logistics/202309/warehouses", warehouses, True, {}),
    ("GET", r"/logistics/202309/warehouses/" + ID.format("warehouse_id") + "/delivery_options", delivery_options, True, {}),
    ("GET", r"/logistics/202309/delivery_options/" + ID.format("delivery_option_id") + "/shipping_providers", shipping_providers, True, {}),
    ("POST", r"/product/(?:202309|202312|202502)/products/search", products_search, True, {}),
    ("GET", r"/product/202309/products/" + ID.format("product_id"), product_get, True, {}),
    ("POST", r"/product/202309/products", product_create, True, {}),
    ("PUT", r"/product/(?:202309|202509)/products/" + ID.format("product_id"), product_edit, True, {}),
    ("POST", r"/product/(?:202309|202509)/products/" + ID.format("product_id") + "/partial_edit", product_partial_edit, True, {}),
    ("POST", r"/product/202309/products/" + ID.format("product_id") + "/prices/update", prices_update, True, {}),
    ("POST", r"/product/202309/products/activate", products_status, True, {"action": "activate"}),
    ("POST", r"/product/202309/products/deactivate", products_status, True, {"action": "deactivate"}),
    ("POST", r"/product/202309/products/recover", products_status, True, {"action": "recover"}),
    ("DELETE", r"/product/202309/products", products_status, True, {"action": "delete"}),
    ("GET", r"/product/202309/categories", categories, True, {}),
    ("GET", r"/product/202309/categories/" + ID.format("category_id") + "/attributes", category_attributes, True, {}),
    ("GET", r"/product/202309/categories/" + ID.format("category_id") + "/rules", category_rules, True, {}),
    ("POST", r"/product/202309/products/" + ID.format("product_id") + "/inventory/update", inventory_update, True, {}),
    ("POST", r"/product/202309/inventory/search", inventory_search, True, {}),
    ("POST", r"/product/202309/images/upload", image_upload, False, {}),
    ("GET", r"/product/202309/brands", brands, True, {}),
    ("POST", r"/return_refund/202309/cancellations", cancel_order, True, {}),
    ("POST", r"/return_refund/202309/cancellations/search", cancellations_search, True, {}),
    ("POST", r"/return_refund/202309/cancellations/" + ID.format("cancel_id") + "/approve", cancellation_decide, True, {"decision": "approve"}),
    ("POST", r"/return_refund/202309/cancellations/" + ID.format("cancel_id") + "/reject", cancellation_decide, True, {"decision": "reject"}),
    ("POST", r"/return_refund/202309/returns/search", returns_search, True, {}),
    ("POST", r"/return_refund/202309/returns/" + ID.format("return_id") + "/approve", return_decide, True, {"decision": "approve"}),
    ("POST", r"/return_refund/202309/returns/" + ID.format("return_id") + "/reject", return_decide, True, {"decision": "reject"}),
    ("POST", r"/return_refund/202309/refunds/calculate", refund_calculate, True, {}),
    ("GET", r"/finance/202309/statements", statements, True, {}),
    ("GET", r"/finance/(?:202309|202501)/statements/" + ID.format("statement_id") + "/statement_transactions", statement_transactions, True, {}),
    ("GET", r"/finance/(?:202309|202501)/orders/" + ID.format("order_id") + "/statement_transactions", order_transactions, True, {}),
    ("GET", r"/event/202309/webhooks", webhooks_get, True, {}),
    ("PUT", r"/event/202309/webhooks", webhooks_put, True, {}),
    ("DELETE", r"/event/202309/webhooks", webhooks_delete, True, {}),
    ("POST", r"/customer_service/202309/conversations", cs_create_conversation, True, {}),
    ("POST", r"/customer_service/202309/conversations/" + ID.format("conversation_id") + "/messages", cs_send_message, True, {}),
]
COMPILED = [(m, re.compile(p + r"/?\Z"), h, c, kw) for m, p, h, c, kw in ROUTES]


def route_match(method: str, path: str):
    """(handler, needs_cipher, kwargs) or an EmuError for an unknown path (36009009) / wrong method (36009010)."""
    path_known = False
    for m, regex, handler, needs_cipher, extra in COMPILED:
        match = regex.match(path)
        if match:
            path_known = True
            if m == method:
                return handler, needs_cipher, {**match.groupdict(), **extra}
    if path_known:
        raise EmuError(36009010, "Invalid HTTP method.", 405)
    raise EmuError(36009009, "Invalid path.", 404)
