"""Pure mapping functions between TikTok payloads (reference §6-§9) and Switchyard data. No ORM, no I/O."""
from __future__ import annotations

from datetime import datetime, timezone as dt_timezone
from decimal import Decimal, InvalidOperation

from integrations.exceptions import PayloadError
from orders.interface import QuantityLineIn, RefundIn, ReturnIn

KIND_WAREHOUSE, KIND_RETURN, KIND_FBT, KIND_CONSOLIDATED = "warehouse", "return", "fbt", "consolidated"
FBT_CONSOLIDATED_EXTERNAL_ID = "fbt-consolidated"


def ts_to_datetime(value) -> datetime | None:
    """TikTok Unix seconds → aware UTC datetime."""
    if value in (None, "", 0):
        return None
    try:
        return datetime.fromtimestamp(int(value), tz=dt_timezone.utc)
    except (TypeError, ValueError, OverflowError):
        return None


def money(value, *, field: str = "", external_id: str = "") -> Decimal:
    if value in (None, ""):
        return Decimal("0")
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise PayloadError(f"{value!r} is not an amount", external_id=external_id, field=field) from None


# --- warehouses (§7) -----------------------------------------------------------------------------

def warehouse_to_location(warehouse: dict) -> dict:
    """A TikTok warehouse → inventory.services.locations_upsert_from_remote row."""
    external_id = str(warehouse.get("id") or "")
    if not external_id:
        raise PayloadError("warehouse without id", field="id")
    kind = KIND_RETURN if warehouse.get("type") == "RETURN_WAREHOUSE" else KIND_WAREHOUSE
    address = warehouse.get("address") or {}
    return {"external_id": external_id, "name": warehouse.get("name") or external_id, "kind": kind,
            "address": {k: address.get(k, "") for k in ("full_address", "address_line1", "address_line2", "city", "state",
                                                          "postal_code", "region_code", "contact_person", "phone_number")
                        if address.get(k)},
            "is_default": bool(warehouse.get("is_default")) and kind == KIND_WAREHOUSE}


def fbt_warehouse_to_location(warehouse: dict) -> dict:
    external_id = str(warehouse.get("fbt_warehouse_id") or "")
    if not external_id:
        raise PayloadError("FBT warehouse without fbt_warehouse_id", field="fbt_warehouse_id")
    return {"external_id": f"fbt-{external_id}", "name": f"FBT {warehouse.get('name') or external_id}", "kind": KIND_FBT,
            "address": {}, "is_default": False}


def fbt_inventory_quantities(records: list[dict], sku_by_id: dict[str, str]) -> dict[str, dict[str, dict[str, int]]]:
    """FBT inventory search rows → {location external id: {seller_sku: {"fulfillable": n, "inbound": n}}}.

    Rows: {fbt_warehouse_id, sku_id | goods_id, available_quantity, in_transit_quantity}; unknown SKU ids skipped."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for row in records:
        sku = sku_by_id.get(str(row.get("sku_id") or ""))
        if not sku:
            continue
        key = f"fbt-{row.get('fbt_warehouse_id')}"
        qty = out.setdefault(key, {}).setdefault(sku, {"fulfillable": 0, "inbound": 0})
        qty["fulfillable"] += int(row.get("available_quantity") or 0)
        qty["inbound"] += int(row.get("in_transit_quantity") or 0)
    return out


def consolidate(quantities: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, int]]:
    """Sum per-location quantities into one {sku: {field: n}}."""
    total: dict[str, dict[str, int]] = {}
    for per_sku in quantities.values():
        for sku, fields in per_sku.items():
            row = total.setdefault(sku, {})
            for name, value in fields.items():
                row[name] = row.get(name, 0) + value
    return total


# --- products (§6) -------------------------------------------------------------------------------

def product_skus(product: dict) -> list[dict]:
    """Search Products row → [{product_id, sku_id, seller_sku, status, warehouse_ids}]."""
    product_id = str(product.get("id") or "")
    out = []
    for sku in product.get("skus") or []:
        out.append({"product_id": product_id, "sku_id": str(sku.get("id") or ""), "seller_sku": (sku.get("seller_sku") or "").strip(),
                    "status": product.get("status", ""),
                    "warehouse_ids": [str(i.get("warehouse_id")) for i in sku.get("inventory") or [] if i.get("warehouse_id")]})
    return out


def weight_payload(weight, unit: str) -> dict:
    """Product weight → TikTok package_weight (KILOGRAM or POUND)."""
    value = Decimal(str(weight))
    unit = (unit or "lb").lower()
    if unit == "oz":
        value, unit = value / 16, "lb"
    elif unit == "g":
        value, unit = value / 1000, "kg"
    return {"value": str(value.quantize(Decimal("0.001")).normalize()), "unit": "KILOGRAM" if unit == "kg" else "POUND"}


def dimensions_payload(*, length, width, height, unit: str) -> dict | None:
    if not (length and width and height):
        return None
    return {"length": str(int(Decimal(length).to_integral_value())), "width": str(int(Decimal(width).to_integral_value())),
            "height": str(int(Decimal(height).to_integral_value())), "unit": "CENTIMETER" if unit == "cm" else "INCH"}


def price_payload(price, currency: str, *, list_price=None) -> dict:
    payload = {"price": {"amount": str(Decimal(str(price)).quantize(Decimal("0.01"))), "currency": currency}}
    if list_price is not None:
        payload["list_price"] = {"amount": str(Decimal(str(list_price)).quantize(Decimal("0.01"))), "currency": currency}
    return payload


def attributes_payload(values: dict[str, dict]) -> list[dict]:
    out = []
    for name in sorted(values):
        v = values[name]
        entry = {"id": v.get("id", "")} if v.get("id") else {"name": name}
        entry["values"] = [{"id": v["value_id"]} if v.get("value_id") else {"name": v.get("value", "")}]
        out.append(entry)
    return out


# --- returns and refunds (§8) ---------------------------------------------------------------------

def _return_lines(ret: dict) -> tuple[QuantityLineIn, ...]:
    per_sku: dict[str, list] = {}
    for line in ret.get("return_line_items") or []:
        sku = (line.get("seller_sku") or "").strip()
        if not sku:
            raise PayloadError("return line without seller_sku", external_id=str(ret.get("return_id", "")), field="seller_sku")
        amount = money((line.get("refund_amount") or {}).get("refund_total"), field="refund_total",
                       external_id=str(ret.get("return_id", "")))
        entry = per_sku.setdefault(sku, [0, [], Decimal("0")])
        entry[0] += 1  # one TikTok line item per unit
        entry[1].append(str(line.get("order_line_item_id") or line.get("return_line_item_id") or ""))
        entry[2] += amount
    return tuple(QuantityLineIn(sku=sku, quantity=qty, external_line_id=",".join(i for i in ids if i), amount=amount)
                 for sku, (qty, ids, amount) in sorted(per_sku.items()))


def return_to_return_in(ret: dict) -> ReturnIn:
    external_id = str(ret.get("return_id") or "")
    if not external_id or not ret.get("order_id"):
        raise PayloadError("return without return_id or order_id", external_id=external_id, field="return_id")
    refund = ret.get("refund_amount") or {}
    return ReturnIn(
        external_id=external_id, order_external_id=str(ret["order_id"]), status=ret.get("return_status", ""),
        return_type=ret.get("return_type", ""), reason=(ret.get("return_reason_text") or ret.get("return_reason") or "")[:255],
        tracking_number=ret.get("return_tracking_number") or "", currency=refund.get("currency") or "USD",
        refund_total=money(refund.get("refund_total"), field="refund_total", external_id=external_id),
        remote_created_at=ts_to_datetime(ret.get("create_time")), remote_updated_at=ts_to_datetime(ret.get("update_time")),
        lines=_return_lines(ret),
    )


def return_to_refund_in(ret: dict) -> RefundIn:
    external_id = str(ret.get("return_id") or "")
    if not external_id or not ret.get("order_id"):
        raise PayloadError("refund without return_id or order_id", external_id=external_id, field="return_id")
    refund = ret.get("refund_amount") or {}
    return RefundIn(
        external_id=external_id, order_external_id=str(ret["order_id"]), status=ret.get("return_status", ""),
        refund_type=ret.get("return_type", ""), reason=(ret.get("return_reason_text") or ret.get("return_reason") or "")[:255],
        currency=refund.get("currency") or "USD",
        amount=money(refund.get("refund_total"), field="refund_total", external_id=external_id),
        return_external_id=external_id if ret.get("return_type") == "RETURN_AND_REFUND" else "",
        remote_created_at=ts_to_datetime(ret.get("create_time")), lines=_return_lines(ret),
    )


# --- finance (§9) -----------------------------------------------------------------------------------

def statement_row(statement: dict) -> dict:
    external_id = str(statement.get("id") or "")
    if not external_id:
        raise PayloadError("statement without id", field="id")
    m = lambda key: money(statement.get(key), field=key, external_id=external_id)  # noqa: E731
    return {"external_id": external_id, "statement_time": ts_to_datetime(statement.get("statement_time")),
            "currency": statement.get("currency") or "USD", "revenue_amount": m("revenue_amount"), "fee_amount": m("fee_amount"),
            "adjustment_amount": m("adjustment_amount"), "shipping_cost_amount": m("shipping_cost_amount"),
            "settlement_amount": m("settlement_amount"), "payment_status": statement.get("payment_status") or "",
            "payment_id": str(statement.get("payment_id") or "")}


_BREAKDOWNS = ("revenue_breakdown", "shipping_cost_breakdown", "fee_tax_breakdown", "supplementary_component")


def transaction_row(tx: dict, *, currency: str = "USD") -> dict:
    """202501 transaction (fee_tax_amount) or 202309 flat one (fee_amount)."""
    external_id = str(tx.get("id") or "")
    if not external_id:
        raise PayloadError("statement transaction without id", field="id")
    m = lambda key: money(tx.get(key), field=key, external_id=external_id)  # noqa: E731
    fee = tx.get("fee_tax_amount", tx.get("fee_amount"))
    return {"external_id": external_id, "transaction_type": tx.get("type") or "",
            "order_external_id": str(tx.get("order_id") or tx.get("adjustment_order_id") or tx.get("associated_order_id") or ""),
            "currency": tx.get("currency") or currency, "revenue_amount": m("revenue_amount"),
            "fee_amount": money(fee, field="fee_tax_amount", external_id=external_id),
            "shipping_cost_amount": m("shipping_cost_amount") if "shipping_cost_amount" in tx else m("shipping_fee_amount"),
            "adjustment_amount": m("adjustment_amount"), "settlement_amount": m("settlement_amount"),
            "details": {k: tx[k] for k in _BREAKDOWNS if k in tx},
            "remote_created_at": ts_to_datetime(tx.get("order_create_time") or tx.get("create_time"))}
