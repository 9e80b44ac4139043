"""Pure translation between Switchyard's data and Katana's documented shapes (reference §1.4). No ORM, no HTTP.

Every body built here holds documented fields only: Katana rejects unknown ones (additionalProperties: false)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.utils.dateparse import parse_datetime

from integrations.exceptions import PayloadError

NOT_SHIPPED, PENDING, PARTIALLY_PACKED, PACKED, PARTIALLY_DELIVERED, DELIVERED = (
    "NOT_SHIPPED", "PENDING", "PARTIALLY_PACKED", "PACKED", "PARTIALLY_DELIVERED", "DELIVERED",
)
SALES_ORDER_STATUSES = (NOT_SHIPPED, PENDING, PARTIALLY_PACKED, PACKED, PARTIALLY_DELIVERED, DELIVERED)
# Statuses in which a sales order can still be removed (nothing packed or delivered yet).
CANCELLABLE = (NOT_SHIPPED, PENDING)
ECOMMERCE_ORDER_TYPE = "tiktok"

# Documented maximum lengths (CreateSalesOrderDto).
CUSTOMER_REF_MAX, TRACKING_NUMBER_MAX, TRACKING_URL_MAX = 255, 256, 2048
ADDRESS_FIELDS = ("first_name", "last_name", "company", "phone", "line_1", "line_2", "city", "state", "zip", "country")


@dataclass(frozen=True)
class RowOut:
    variant_id: int
    quantity: int
    price_per_unit: Decimal | None = None
    location_id: int | None = None


@dataclass(frozen=True)
class SalesOrderOut:
    order_no: str
    customer_id: int
    rows: tuple[RowOut, ...]
    customer_ref: str = ""
    ecommerce_order_id: str = ""
    ecommerce_store_name: str = ""
    ecommerce_order_type: str = ECOMMERCE_ORDER_TYPE
    location_id: int | None = None
    currency: str = ""
    order_created_date: datetime | None = None
    additional_info: str = ""
    shipping_address: dict = field(default_factory=dict)
    status: str = NOT_SHIPPED


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


def address_from_channel(address: dict) -> dict:
    """The stored channel address → a Katana shipping address ({} when the channel gave none)."""
    a = address or {}
    first, last = a.get("first_name", ""), a.get("last_name", "")
    if not first and not last and a.get("name"):
        first, _, last = str(a["name"]).partition(" ")
    values = {
        "first_name": first,
        "last_name": last,
        "company": a.get("company", ""),
        "phone": a.get("phone", ""),
        "line_1": a.get("address1") or a.get("line1", ""),
        "line_2": a.get("address2") or a.get("line2", ""),
        "city": a.get("city", ""),
        "state": a.get("state") or a.get("region", ""),
        "zip": a.get("zip") or a.get("postal_code", ""),
        "country": a.get("country_code") or a.get("country", ""),
    }
    values = {k: str(v) for k, v in values.items() if v}
    if not values.get("line_1") and not values.get("city"):
        return {}
    return {"entity_type": "shipping", **values}


def sales_order_body(so: SalesOrderOut) -> dict:
    """POST /sales_orders body; optional fields only when they have a value."""
    if not so.rows:
        raise ValueError("a Katana sales order needs at least one row")
    body: dict = {
        "order_no": so.order_no,
        "customer_id": int(so.customer_id),
        "status": so.status,
        "sales_order_rows": [],
    }
    for row in so.rows:
        out = {"variant_id": int(row.variant_id), "quantity": int(row.quantity)}
        if row.price_per_unit is not None:
            out["price_per_unit"] = _number(Decimal(row.price_per_unit))
        if row.location_id is not None:
            out["location_id"] = int(row.location_id)
        body["sales_order_rows"].append(out)
    optional = {
        "location_id": int(so.location_id) if so.location_id is not None else None,
        "currency": so.currency or None,
        "order_created_date": _iso(so.order_created_date),
        "customer_ref": so.customer_ref[:CUSTOMER_REF_MAX] or None,
        "ecommerce_order_id": so.ecommerce_order_id or None,
        "ecommerce_order_type": so.ecommerce_order_type if so.ecommerce_order_id else None,
        "ecommerce_store_name": so.ecommerce_store_name or None,
        "additional_info": so.additional_info or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    if so.shipping_address:
        body["addresses"] = [so.shipping_address]
    return body


def shipping_fee_body(*, sales_order_id: int, amount: Decimal, description: str = "Shipping") -> dict:
    """POST /sales_order_shipping_fee (amount is a string in Katana's schema)."""
    return {"sales_order_id": int(sales_order_id), "amount": str(amount), "description": description}


@dataclass(frozen=True)
class RemoteSalesOrder:
    id: int
    status: str
    order_no: str
    customer_ref: str
    ecommerce_order_id: str
    rows: dict[int, int]  # sales_order_row_id → variant_id
    updated_at: datetime | None
    deleted: bool = False


def sales_order_from_json(data: dict) -> RemoteSalesOrder:
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise PayloadError("sales order without an integer id", external_id=str((data or {}).get("id", "")), field="id")
    status = str(data.get("status") or "")
    if status not in SALES_ORDER_STATUSES:
        raise PayloadError(f"unknown Katana sales order status {status!r}", external_id=str(data["id"]), field="status")
    rows = {}
    for row in data.get("sales_order_rows") or []:
        if isinstance(row, dict) and isinstance(row.get("id"), int):
            rows[row["id"]] = row.get("variant_id")
    return RemoteSalesOrder(
        id=data["id"],
        status=status,
        order_no=str(data.get("order_no") or ""),
        customer_ref=str(data.get("customer_ref") or ""),
        ecommerce_order_id=str(data.get("ecommerce_order_id") or ""),
        rows=rows,
        updated_at=parse_datetime(str(data["updated_at"])) if data.get("updated_at") else None,
        deleted=bool(data.get("deleted_at")),
    )


@dataclass(frozen=True)
class RemoteFulfillment:
    id: int
    sales_order_id: int
    status: str
    tracking_number: str
    tracking_url: str
    tracking_carrier: str
    tracking_method: str
    picked_date: datetime | None
    rows: tuple[tuple[int, int], ...]  # (sales_order_row_id, quantity)


def _quantity(value, *, external_id: str, field_name: str) -> int:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PayloadError(f"{field_name} is not a number: {value!r}", external_id=external_id, field=field_name) from None
    if number != number.to_integral_value() or number < 0:
        raise PayloadError(f"{field_name} is not a whole quantity: {value!r}", external_id=external_id, field=field_name)
    return int(number)


def fulfillment_from_json(data: dict) -> RemoteFulfillment:
    fid = data.get("id") if isinstance(data, dict) else None
    if not isinstance(fid, int):
        raise PayloadError("fulfillment without an integer id", field="id")
    status = str(data.get("status") or "")
    if status not in (PACKED, DELIVERED):
        raise PayloadError(f"unknown fulfillment status {status!r}", external_id=str(fid), field="status")
    rows = tuple(
        (int(r["sales_order_row_id"]), _quantity(r.get("quantity"), external_id=str(fid), field_name="quantity"))
        for r in data.get("sales_order_fulfillment_rows") or []
        if isinstance(r, dict) and r.get("sales_order_row_id") is not None
    )
    return RemoteFulfillment(
        id=fid,
        sales_order_id=int(data.get("sales_order_id") or 0),
        status=status,
        tracking_number=str(data.get("tracking_number") or ""),
        tracking_url=str(data.get("tracking_url") or ""),
        tracking_carrier=str(data.get("tracking_carrier") or ""),
        tracking_method=str(data.get("tracking_method") or ""),
        picked_date=parse_datetime(str(data["picked_date"])) if data.get("picked_date") else None,
        rows=rows,
    )


@dataclass(frozen=True)
class RemoteVariant:
    id: int
    sku: str
    name: str
    price: Decimal | None
    barcode: str
    attributes: dict
    updated_at: datetime | None


def variant_from_json(data: dict) -> RemoteVariant:
    vid = data.get("id") if isinstance(data, dict) else None
    if not isinstance(vid, int):
        raise PayloadError("variant without an integer id", field="id")
    sku = data.get("sku")
    if not isinstance(sku, str) or not sku:
        raise PayloadError("variant without a SKU", external_id=str(vid), field="sku")
    parent = data.get("product_or_material") or data.get("product") or {}
    name = str(parent.get("name") or "") if isinstance(parent, dict) else ""
    attributes = {
        str(a.get("config_name")): str(a.get("config_value"))
        for a in data.get("config_attributes") or []
        if isinstance(a, dict) and a.get("config_name")
    }
    if attributes:
        name = f"{name} ({', '.join(attributes.values())})" if name else ", ".join(attributes.values())
    price = None
    if data.get("sales_price") not in (None, ""):
        try:
            price = Decimal(str(data["sales_price"])).quantize(Decimal("0.01"))
        except InvalidOperation:
            raise PayloadError(f"sales_price is not a number: {data['sales_price']!r}", external_id=str(vid),
                               field="sales_price") from None
    return RemoteVariant(
        id=vid,
        sku=sku,
        name=(name or sku)[:255],
        price=price,
        barcode=str(data.get("registered_barcode") or data.get("internal_barcode") or "")[:64],
        attributes=attributes,
        updated_at=parse_datetime(str(data["updated_at"])) if data.get("updated_at") else None,
    )


@dataclass(frozen=True)
class RemoteStock:
    variant_id: int
    location_id: int
    sku: str
    in_stock: int
    committed: int

    @property
    def available(self) -> int:
        """Katana documents no "available": In stock − Committed, never below 0 (reference §1.4, a design choice)."""
        return max(0, self.in_stock - self.committed)


def _whole(value, *, external_id: str, field_name: str) -> int:
    try:
        number = Decimal(str(value if value not in (None, "") else "0"))
    except InvalidOperation:
        raise PayloadError(f"{field_name} is not a number: {value!r}", external_id=external_id, field=field_name) from None
    return int(number.to_integral_value(rounding="ROUND_FLOOR"))


def stock_from_json(data: dict) -> RemoteStock:
    if not isinstance(data, dict) or not isinstance(data.get("variant_id"), int) or not isinstance(data.get("location_id"), int):
        raise PayloadError("inventory row without variant_id/location_id", field="variant_id")
    key = f"{data['location_id']}|{data['variant_id']}"
    variant = data.get("variant") or {}
    return RemoteStock(
        variant_id=data["variant_id"],
        location_id=data["location_id"],
        sku=str(variant.get("sku") or "") if isinstance(variant, dict) else "",
        in_stock=_whole(data.get("quantity_in_stock"), external_id=key, field_name="quantity_in_stock"),
        committed=_whole(data.get("quantity_committed"), external_id=key, field_name="quantity_committed"),
    )


def location_from_json(data: dict) -> dict:
    """→ the dict inventory.services.locations_upsert_from_remote takes."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), int):
        raise PayloadError("location without an integer id", field="id")
    address = data.get("address") or {}
    return {
        "external_id": str(data["id"]),
        "name": str(data.get("name") or data["id"]),
        "kind": "warehouse",
        "address": address if isinstance(address, dict) else {},
        "is_default": bool(data.get("is_primary")),
        # In stock − Committed is net of Katana's own commitments (our sales orders once created).
        "reports_fulfillable": True,
    }
