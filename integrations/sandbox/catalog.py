"""TikTok emulator: product catalog side (reference §6.1-§6.4) — categories, attributes, category rules, Create
Product with its listing rules, Get/Edit/Partial Edit, Update Price, Activate/Deactivate/Delete/Recover and the
audit (PENDING → ACTIVATE).

Shapes and status rules follow the reference; error codes the reference does not give are the emulator's own
(12052xxx, marked "emulator code" below) and only need to be non-zero for the connector.
"""
from __future__ import annotations

import struct
import zlib
from decimal import Decimal, InvalidOperation

from django.db import transaction

from integrations.sandbox.models import EmuProduct, EmuShop, EmuSku
from integrations.sandbox.services import EmuError, new_id, now_ts

AUDIT_SECONDS = 3  # a listing (or an activated one) leaves PENDING for ACTIVATE this long after it was sent
HOSTED_IMAGE_PREFIX = "tos-emu-i-sandbox/"  # uris the emulator's Upload Product Image hands out
QUANTITY_MAX = 99_999
NOT_READABLE = ("DELETED", "FREEZE")  # Get Product "not for FREEZE/DELETED" (§6.1)

# Categories (v1 3-level shape; id, parent_id, local_name, is_leaf, permission_statuses).
CATEGORIES = [
    ("601152", "0", "Womenswear & Underwear", False), ("601195", "601152", "Women's Tops", False),
    ("601226", "601195", "T-shirts", True),
    ("605196", "0", "Fashion Accessories", False), ("605248", "605196", "Hats & Caps", False),
    ("605253", "605248", "Baseball Caps", True),
    ("824328", "0", "Luggage & Bags", False), ("824584", "824328", "Women's Bags", False),
    ("824712", "824584", "Tote Bags", True),
    ("700437", "0", "Toys & Hobbies", False), ("700530", "700437", "Educational Toys", False),
    ("700645", "700530", "Building Blocks", True),
]


def _attr(aid, name, required, values, *, sales=False, customizable=False):
    return {"id": aid, "name": name, "type": "SALES_PROPERTY" if sales else "PRODUCT_PROPERTY", "is_requried": required,
            "is_multiple_selection": False, "is_customizable": customizable,
            "values": [{"id": vid, "name": vname} for vid, vname in values], "requirement_conditions": []}


COLOUR = _attr("100000", "Colour", True, [], sales=True, customizable=True)
SIZE = _attr("100007", "Size", False, [], sales=True, customizable=True)
ATTRIBUTES = {
    "601226": [_attr("100392", "Material", True, [("1000041", "Cotton"), ("1000042", "Polyester"), ("1000043", "Organic Cotton")]),
               _attr("100393", "Pattern", True, [("1000051", "Solid"), ("1000052", "Striped")]),
               _attr("100394", "Season", False, [("1000061", "Summer"), ("1000062", "Winter")]), COLOUR, SIZE],
    "605253": [_attr("100392", "Material", True, [("1000041", "Cotton"), ("1000042", "Polyester"), ("1000044", "Wool")]),
               _attr("100395", "Closure Type", False, [("1000071", "Snapback"), ("1000072", "Strapback")]), COLOUR],
    "824712": [_attr("100392", "Material", True, [("1000041", "Cotton"), ("1000045", "Canvas"), ("1000046", "Leather")]),
               _attr("100396", "Strap Type", False, [("1000081", "Double Handle"), ("1000082", "Shoulder Strap")]), COLOUR],
    "700645": [_attr("100397", "Age Range", True, [("1000091", "3-5 Years"), ("1000092", "6-8 Years"), ("1000093", "9+ Years")])],
}
RULES = {
    "601226": {"product_certifications": [], "size_chart": {"is_supported": True, "is_required": False},
               "package_dimension": {"is_required": False}, "cod": {"is_supported": False}, "epr": {"is_required": False}},
    "605253": {"product_certifications": [], "size_chart": {"is_supported": False, "is_required": False},
               "package_dimension": {"is_required": True}, "cod": {"is_supported": False}, "epr": {"is_required": False}},
    "824712": {"product_certifications": [], "size_chart": {"is_supported": False, "is_required": False},
               "package_dimension": {"is_required": False}, "cod": {"is_supported": False}, "epr": {"is_required": False}},
    "700645": {"product_certifications": [{"id": "6001", "name": "Children's Product Certificate (CPC)", "is_required": True}],
               "size_chart": {"is_supported": False, "is_required": False}, "package_dimension": {"is_required": True},
               "cod": {"is_supported": False}, "epr": {"is_required": False}},
}
_BY_ID = {cid: (parent, name, leaf) for cid, parent, name, leaf in CATEGORIES}


def categories(*, keyword: str = "") -> list[dict]:
    kw = keyword.strip().lower()
    return [{"id": cid, "parent_id": parent, "local_name": name, "is_leaf": leaf, "permission_statuses": ["AVAILABLE"]}
            for cid, parent, name, leaf in CATEGORIES if kw in name.lower()]


def _leaf(category_id: str) -> str:
    category_id = str(category_id or "")
    if category_id not in _BY_ID:
        raise EmuError(12052009, f"Category {category_id or '(none)'} does not exist.")  # emulator code
    if not _BY_ID[category_id][2]:
        raise EmuError(12052010, f"Category {category_id} is not a leaf category.")  # emulator code
    return category_id


def category_attributes(category_id: str) -> list[dict]:
    return ATTRIBUTES[_leaf(category_id)]


def category_rules(category_id: str) -> dict:
    return RULES[_leaf(category_id)]


def category_chain(category_id: str) -> list[dict]:
    chain, cid = [], str(category_id or "")
    while cid in _BY_ID:
        parent, name, leaf = _BY_ID[cid]
        chain.insert(0, {"id": cid, "parent_id": parent, "local_name": name, "is_leaf": leaf})
        cid = parent
    return chain


# --- listing rules (§6.1-§6.2 and seed 002: title, description, images, weight, price, attributes, category rules) ---

def _amount(value, field: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise EmuError(12052021, f"{field}: {value!r} is not an amount.") from None  # emulator code
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise EmuError(12052021, f"{field} must be greater than 0 with at most 2 decimals.")  # emulator code
    return amount


def _check_price(sku: dict, shop: EmuShop, n: int) -> Decimal:
    price = sku.get("price") or {}
    amount = _amount(price.get("amount") if price.get("amount") is not None else price.get("sale_price"), f"skus[{n}].price.amount")
    if price.get("currency") and price["currency"] != shop.currency:
        raise EmuError(12052022, f"skus[{n}].price.currency must be {shop.currency}.")  # emulator code
    if sku.get("list_price"):
        if _amount(sku["list_price"].get("amount"), f"skus[{n}].list_price.amount") <= amount:
            raise EmuError(12052023, f"skus[{n}].list_price must be higher than the price.")  # emulator code
    return amount


def _check_images(images: list) -> None:
    if not 1 <= len(images) <= 9:
        raise EmuError(12052030, "main_images: 1 to 9 images are required.")  # emulator code
    for image in images:
        if not str((image or {}).get("uri") or "").startswith(HOSTED_IMAGE_PREFIX):
            raise EmuError(12052031, "main_images: every image must be uploaded with Upload Product Image first (a TikTok uri).")


def _check_attributes(category_id: str, given: list[dict]) -> None:
    by_id = {str(a.get("id") or ""): a for a in given or []}
    by_name = {str(a.get("name") or "").lower(): a for a in given or []}
    for attribute in ATTRIBUTES[category_id]:
        if attribute["type"] != "PRODUCT_PROPERTY":
            continue
        entry = by_id.get(attribute["id"]) or by_name.get(attribute["name"].lower())
        if entry is None:
            if attribute["is_requried"]:
                raise EmuError(12052040, f"Required attribute {attribute['name']} ({attribute['id']}) is missing.")  # emulator code
            continue
        allowed = {v["id"] for v in attribute["values"]}
        for value in entry.get("values") or []:
            if value.get("id") and str(value["id"]) not in allowed:
                raise EmuError(12052041, f"Attribute {attribute['name']}: value {value['id']} is not allowed.")  # emulator code
            if not value.get("id") and not attribute["is_customizable"]:
                raise EmuError(12052041, f"Attribute {attribute['name']} takes one of its listed values (by id).")
        if not entry.get("values") and attribute["is_requried"]:
            raise EmuError(12052040, f"Required attribute {attribute['name']} has no value.")


def _check_inventory(shop: EmuShop, sku: dict, n: int) -> dict[str, int]:
    warehouses = list(shop.warehouses.filter(type="SALES_WAREHOUSE").values_list("warehouse_id", flat=True))
    out: dict[str, int] = {}
    for row in sku.get("inventory") or []:
        wid = str(row.get("warehouse_id") or "")
        if not wid:
            if len(warehouses) != 1:
                raise EmuError(12052097, f"skus[{n}].inventory: warehouse_id is required (the shop has several warehouses).")
            wid = warehouses[0]
        if wid not in warehouses:
            raise EmuError(12052097, f"skus[{n}].inventory: warehouse {wid} does not exist.")  # §3.2
        quantity = row.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= QUANTITY_MAX:
            raise EmuError(12052055, f"skus[{n}].inventory: quantity must be 0 to {QUANTITY_MAX}.")  # §3.2 (out of limits)
        out[wid] = quantity
    return out


def listing_check(shop: EmuShop, body: dict, *, draft: bool) -> tuple[str, list[tuple[dict, Decimal, dict]]]:
    """(category id, [(sku, price, inventory)]) of a valid Create/Edit Product body, or EmuError. A draft needs a
    title, category and SKUs; a listing everything else too."""
    title = str(body.get("title") or "")
    if not 1 <= len(title) <= 255:
        raise EmuError(12052001, "title must be 1 to 255 characters.")  # emulator code
    category_id = _leaf(body.get("category_id"))
    skus = body.get("skus") or []
    if not 1 <= len(skus) <= 100:
        raise EmuError(12052050, "skus: 1 to 100 SKUs are required.")  # emulator code
    seen, combos, checked = set(), set(), []
    for n, sku in enumerate(skus):
        seller_sku = str(sku.get("seller_sku") or "").strip()
        if not seller_sku or seller_sku in seen:
            raise EmuError(12052051, f"skus[{n}].seller_sku is missing or repeated.")  # emulator code
        seen.add(seller_sku)
        combo = tuple(sorted((str(a.get("name") or a.get("id")), str(a.get("value_name") or a.get("value_id")))
                             for a in sku.get("sales_attributes") or []))
        if len(skus) > 1 and (not combo or combo in combos):
            raise EmuError(12052052, f"skus[{n}]: each SKU of a multi-SKU product needs its own sales attributes.")  # emulator code
        combos.add(combo)
        checked.append((sku, _check_price(sku, shop, n), _check_inventory(shop, sku, n)))
    if draft:
        return category_id, checked
    description = str(body.get("description") or "")
    if not description or len(description) > 10_000:
        raise EmuError(12052002, "description is required (at most 10 000 characters).")  # emulator code
    _check_images(body.get("main_images") or [])
    weight = body.get("package_weight") or {}
    if weight.get("unit") not in ("KILOGRAM", "POUND"):
        raise EmuError(12052060, "package_weight is required (unit KILOGRAM or POUND).")  # emulator code
    _weight(weight.get("value"))
    rules = RULES[category_id]
    if rules["package_dimension"]["is_required"] and not body.get("package_dimensions"):
        raise EmuError(12052061, "package_dimensions are required for this category.")  # emulator code
    given_certs = {str(c.get("id")) for c in body.get("certifications") or []}
    for cert in rules["product_certifications"]:
        if cert["is_required"] and cert["id"] not in given_certs:
            raise EmuError(12052062, f"Certification {cert['name']} is required for this category.")  # emulator code
    _check_attributes(category_id, body.get("product_attributes") or [])
    return category_id, checked


def _weight(value) -> None:
    try:
        ok = Decimal(str(value)) > 0
    except (InvalidOperation, ValueError):
        ok = False
    if not ok:
        raise EmuError(12052060, "package_weight.value must be greater than 0.")  # emulator code


# --- products ---

def _audit(products) -> None:
    """PENDING listings pass the audit AUDIT_SECONDS after they were sent (applied when read)."""
    due = now_ts() - AUDIT_SECONDS
    for product in products:
        if product.status == "PENDING" and int((product.data or {}).get("pending_since") or 0) <= due:
            product.status = "ACTIVATE"
            product.update_time = now_ts()
            product.save(update_fields=["status", "update_time"])


def products_audit(shop: EmuShop) -> None:
    _audit(EmuProduct.objects.filter(shop=shop, status="PENDING"))


def _detail(body: dict, category_id: str) -> dict:
    keep = ("description", "main_images", "product_attributes", "package_weight", "package_dimensions", "brand_id", "video",
            "certifications", "size_chart")
    data = {k: body[k] for k in keep if k in body}
    data["category_id"] = category_id
    return data


@transaction.atomic
def product_create_from_api(*, shop: EmuShop, body: dict) -> dict:
    """Create Product: checked as a listing (save_mode LISTING → PENDING, audited) or a draft (AS_DRAFT → DRAFT).
    The same idempotency_key answers the product it created."""
    key = str(body.get("idempotency_key") or "")
    if key:
        earlier = EmuProduct.objects.filter(shop=shop, data__idempotency_key=key).first()
        if earlier is not None:
            return create_answer(earlier)
    draft = body.get("save_mode") == "AS_DRAFT"
    category_id, checked = listing_check(shop, body, draft=draft)
    ts = now_ts()
    data = {**_detail(body, category_id), "idempotency_key": key, "pending_since": ts}
    product = EmuProduct.objects.create(shop=shop, product_id=new_id(19), title=body["title"], status="DRAFT" if draft else "PENDING",
                                        create_time=ts, update_time=ts, data=data)
    default = shop.warehouses.filter(type="SALES_WAREHOUSE").order_by("-is_default", "id").values_list("warehouse_id", flat=True).first()
    EmuSku.objects.bulk_create([
        EmuSku(product=product, sku_id=new_id(19), seller_sku=sku["seller_sku"].strip(), price=price,
               name=", ".join(str(a.get("value_name") or "") for a in sku.get("sales_attributes") or []),
               inventory=inventory or ({default: 0} if default else {}))
        for sku, price, inventory in checked])
    return create_answer(product)


def create_answer(product: EmuProduct) -> dict:
    return {"product_id": product.product_id, "warnings": [],
            "skus": [{"id": s.sku_id, "seller_sku": s.seller_sku,
                      "sales_attributes": [{"id": "100000", "value_id": new_id(7)}] if s.name else []}
                     for s in product.skus.order_by("id")]}


def product_for_write(shop: EmuShop, product_id: str) -> EmuProduct:
    product = EmuProduct.objects.filter(shop=shop, product_id=product_id).first()
    if product is None:
        raise EmuError(12052048, "The product does not exist.")
    return product


def product_read(shop: EmuShop, product_id: str) -> EmuProduct:
    """Get Product: not for FREEZE or DELETED products (§6.1)."""
    product = product_for_write(shop, product_id)
    _audit([product])
    if product.status in NOT_READABLE:
        raise EmuError(12052048, f"The product is {product.status}: Get Product is not available for it.")  # emulator code
    return product


@transaction.atomic
def product_partial_edit(*, shop: EmuShop, product_id: str, body: dict) -> dict:
    """Partial Edit: the given top-level properties; skus[].price applies at once (no re-audit), like inventory."""
    product = product_for_write(shop, product_id)
    if product.status in NOT_READABLE:
        raise EmuError(12052049, f"The product is {product.status} and cannot be edited.")  # emulator code
    if "title" in body:
        if not 1 <= len(str(body["title"] or "")) <= 255:
            raise EmuError(12052001, "title must be 1 to 255 characters.")
        product.title = body["title"]
    if "main_images" in body:
        _check_images(body["main_images"] or [])
    skus = {s.sku_id: s for s in product.skus.all()}
    for n, row in enumerate(body.get("skus") or []):
        sku = skus.get(str(row.get("id") or ""))
        if sku is None:
            raise EmuError(12052053, f"skus[{n}].id is not a SKU of product {product_id}.")  # emulator code
        if "price" in row:
            sku.price = _check_price(row, shop, n)
            sku.save(update_fields=["price"])
    product.data = {**(product.data or {}), **{k: v for k, v in body.items() if k not in ("skus", "title")}}
    product.update_time = now_ts()
    product.save(update_fields=["title", "data", "update_time"])
    return {"product_id": product.product_id}


@transaction.atomic
def product_edit(*, shop: EmuShop, product_id: str, body: dict) -> dict:
    """Edit Product (full replace): SKUs matched by id or seller_sku, others removed; back to audit."""
    product = product_for_write(shop, product_id)
    if product.status in NOT_READABLE:
        raise EmuError(12052049, f"The product is {product.status} and cannot be edited.")  # emulator code
    category_id, checked = listing_check(shop, body, draft=False)
    existing = {s.seller_sku: s for s in product.skus.all()}
    keep = []
    for sku, price, inventory in checked:
        row = existing.get(sku["seller_sku"].strip())
        if row is None:
            row = EmuSku.objects.create(product=product, sku_id=new_id(19), seller_sku=sku["seller_sku"].strip(), price=price,
                                        inventory=inventory)
        else:
            row.price = price
            if inventory:
                row.inventory = inventory
            row.save(update_fields=["price", "inventory"])
        keep.append(row.pk)
    product.skus.exclude(pk__in=keep).delete()
    ts = now_ts()
    product.title = body["title"]
    product.data = {**(product.data or {}), **_detail(body, category_id), "pending_since": ts}
    if product.status == "ACTIVATE":
        product.status = "PENDING"
    product.update_time = ts
    product.save(update_fields=["title", "data", "status", "update_time"])
    return create_answer(product)


def prices_update(*, shop: EmuShop, product_id: str, skus: list[dict]) -> None:
    """Update Price: the product must be ACTIVATE (§6.1)."""
    product = product_for_write(shop, product_id)
    _audit([product])
    if product.status != "ACTIVATE":
        raise EmuError(12052230, f"Update Price needs an ACTIVATE product; this one is {product.status}.")  # emulator code
    rows = {s.sku_id: s for s in product.skus.all()}
    for n, row in enumerate(skus):
        sku = rows.get(str(row.get("id") or ""))
        if sku is None:
            raise EmuError(12052053, f"skus[{n}].id is not a SKU of product {product_id}.")
        sku.price = _check_price(row, shop, n)
        sku.save(update_fields=["price"])
    product.update_time = now_ts()
    product.save(update_fields=["update_time"])


# Status changes (§6.1): {action: (allowed from, to)}.
TRANSITIONS = {
    "activate": (("SELLER_DEACTIVATED", "DRAFT", "FAILED"), "PENDING"),
    "deactivate": (("ACTIVATE", "PENDING"), "SELLER_DEACTIVATED"),
    "delete": (("DRAFT", "PENDING", "FAILED", "ACTIVATE", "SELLER_DEACTIVATED", "PLATFORM_DEACTIVATED"), "DELETED"),
    "recover": (("DELETED",), "SELLER_DEACTIVATED"),
}


@transaction.atomic
def products_status_change(*, shop: EmuShop, action: str, product_ids: list) -> list[dict]:
    """Activate / Deactivate / Delete / Recover (≤ 20 ids): data.errors[] per product that cannot change."""
    if not product_ids or len(product_ids) > 20:
        raise EmuError(12052100, "product_ids: 1 to 20 ids.")  # emulator code
    allowed, target = TRANSITIONS[action]
    errors, ts = [], now_ts()
    for pid in product_ids:
        product = EmuProduct.objects.filter(shop=shop, product_id=str(pid)).first()
        if product is None or product.status not in allowed:
            errors.append({"code": 12052101, "message": f"The product cannot be {action}d in status "  # emulator code
                                                        f"{product.status if product else 'unknown'}.",
                           "detail": {"product_id": str(pid)}})
            continue
        product.status = target
        product.update_time = ts
        if target == "PENDING":
            product.data = {**(product.data or {}), "pending_since": ts}
        product.save(update_fields=["status", "update_time", "data"])
    return errors


def product_detail(product: EmuProduct, currency: str, sku_payload) -> dict:
    data = product.data or {}
    out = {"id": product.product_id, "title": product.title, "status": product.status, "description": data.get("description", ""),
           "create_time": product.create_time, "update_time": product.update_time,
           "skus": [sku_payload(s, currency) for s in product.skus.all()]}
    if data.get("category_id"):
        out["category_chains"] = category_chain(data["category_id"])
    for key in ("main_images", "product_attributes", "package_weight", "package_dimensions"):
        if key in data:
            out[key] = data[key]
    if data.get("brand_id"):
        out["brand"] = {"id": data["brand_id"], "name": ""}
    return out


# --- demo product images (the seller's image host, so product push has something to fetch and upload) ---

IMAGE_COLOURS = {"tote": (214, 196, 160), "blocks": (220, 60, 50)}


def demo_image_png(name: str, size: int = 600) -> bytes | None:
    """A plain size×size PNG in the named colour (a valid image: TikTok's 300-4000 px main-image rule holds)."""
    colour = IMAGE_COLOURS.get(name)
    if colour is None:
        return None
    row = b"\x00" + bytes(colour) * size
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(row * size, 9)) + chunk(b"IEND", b"")
