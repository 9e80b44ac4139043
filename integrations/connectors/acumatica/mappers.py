"""Pure mapping between hub dataclasses and Acumatica's contract-based JSON (reference §2.3: every field is
{"value": …}; linked entities are nested objects, detail collections arrays; system fields id/rowNumber/note/
custom/error/files). No I/O, no ORM."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.dateparse import parse_datetime

from integrations.exceptions import PayloadError

SYSTEM_FIELDS = frozenset({"id", "rowNumber", "note", "custom", "error", "files", "_links", "delete"})


def wrap(value: Any) -> dict:
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, datetime):
        value = value.replace(microsecond=0).isoformat()
    return {"value": value}


def wrap_entity(data: dict) -> dict:
    """Plain fields → {"value": …}; nested dicts are linked entities, lists of dicts detail collections."""
    out: dict = {}
    for key, value in data.items():
        if key in SYSTEM_FIELDS:
            out[key] = value
        elif isinstance(value, dict):
            out[key] = wrap_entity(value)
        elif isinstance(value, (list, tuple)):
            out[key] = [wrap_entity(item) for item in value]
        else:
            out[key] = wrap(value)
    return out


def unwrap_entity(data: dict) -> dict:
    """The inverse: {"value": x} → x; linked and detail entities recursively; system fields kept as they are."""
    out: dict = {}
    for key, value in (data or {}).items():
        if key in SYSTEM_FIELDS:
            out[key] = value
        elif isinstance(value, dict) and set(value) <= {"value", "error"} and "value" in value:
            out[key] = value["value"]
        elif isinstance(value, dict) and not value:
            out[key] = None
        elif isinstance(value, dict):
            out[key] = unwrap_entity(value)
        elif isinstance(value, list):
            out[key] = [unwrap_entity(item) if isinstance(item, dict) else item for item in value]
        else:
            out[key] = value
    return out


def entity_errors(entity: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (field path, message) of a 422 entity, walking linked entities and detail lines as Acumatica's own
    client does (reference §2.5). The entity-level `error` comes first with the path of its entity."""
    found: list[tuple[str, str]] = []
    if not isinstance(entity, dict):
        return found
    if entity.get("error"):
        found.append((path or "(record)", str(entity["error"])))
    for key, value in entity.items():
        if key in SYSTEM_FIELDS:
            continue
        where = f"{path}.{key}" if path else key
        if isinstance(value, dict) and "value" in value and set(value) <= {"value", "error"}:
            if value.get("error"):
                found.append((where, str(value["error"])))
        elif isinstance(value, dict):
            found.extend(entity_errors(value, where))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                found.extend(entity_errors(item, f"{where}[{index}]"))
    return found


# --- sales orders ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SalesOrderLineOut:
    inventory_id: str
    quantity: int
    unit_price: Decimal
    warehouse_id: str = ""


@dataclass(frozen=True)
class SalesOrderOut:
    order_type: str
    customer_id: str
    customer_order: str  # the channel order id: the dedupe key (reference §2.7 "Dedupe")
    external_ref: str  # the hub's shipping-request reference
    description: str
    ship_via: str
    payment_method: str
    date: datetime | None
    ship_to: dict
    lines: tuple[SalesOrderLineOut, ...]
    requested_on: datetime | None = None
    warehouse_id: str = ""


@dataclass(frozen=True)
class RemoteSalesOrder:
    order_type: str
    order_nbr: str
    status: str = ""
    customer_order: str = ""
    external_ref: str = ""
    id: str = ""

    @property
    def key(self) -> str:
        return f"{self.order_type}/{self.order_nbr}"


def ship_to_from_address(address: dict) -> dict:
    """Hub shipping address → ShipToAddress + ShipToContact (only fields that have a value)."""
    a = address or {}
    addr = {"AddressLine1": a.get("address1", ""), "AddressLine2": a.get("address2", ""), "City": a.get("city", ""),
            "State": a.get("state", ""), "PostalCode": a.get("zip", ""), "Country": a.get("country", "")}
    contact = {"Attention": a.get("name", ""), "BusinessName": a.get("company", ""), "Phone1": a.get("phone", ""),
               "Email": a.get("email", "")}
    return {"address": {k: v for k, v in addr.items() if v}, "contact": {k: v for k, v in contact.items() if v}}


def sales_order_body(order: SalesOrderOut) -> dict:
    """The PUT /SalesOrder body (reference §2.7 example). The override flags make the ship-to stick instead of
    defaulting from the generic customer's location (usual practice; reference marks it unconfirmed)."""
    body: dict[str, Any] = {
        "OrderType": order.order_type,
        "CustomerID": order.customer_id,
        "CustomerOrder": order.customer_order,
        "ExternalRef": order.external_ref,
        "Description": order.description,
        "Hold": False,
        "ShipVia": order.ship_via,
        "PaymentMethod": order.payment_method,
    }
    if order.date:
        body["Date"] = order.date
    if order.requested_on:
        body["RequestedOn"] = order.requested_on
    if order.warehouse_id:
        body["PreferredWarehouseID"] = order.warehouse_id
    ship_to = order.ship_to or {}
    if ship_to.get("address"):
        body["ShipToAddressOverride"] = True
        body["ShipToAddress"] = dict(ship_to["address"])
    if ship_to.get("contact"):
        body["ShipToContactOverride"] = True
        body["ShipToContact"] = dict(ship_to["contact"])
    body["Details"] = [
        {k: v for k, v in (("InventoryID", line.inventory_id), ("OrderQty", line.quantity), ("UnitPrice", line.unit_price),
                          ("WarehouseID", line.warehouse_id)) if v not in ("", None)}
        for line in order.lines
    ]
    return wrap_entity(body)


def sales_order_from_json(data: dict) -> RemoteSalesOrder:
    plain = unwrap_entity(data)
    if not plain.get("OrderType") or not plain.get("OrderNbr"):
        raise PayloadError("sales order without OrderType/OrderNbr", external_id=str(plain.get("id", "")), field="OrderNbr")
    return RemoteSalesOrder(order_type=str(plain["OrderType"]), order_nbr=str(plain["OrderNbr"]),
                            status=str(plain.get("Status") or ""), customer_order=str(plain.get("CustomerOrder") or ""),
                            external_ref=str(plain.get("ExternalRef") or ""), id=str(plain.get("id") or ""))


@dataclass(frozen=True)
class ReturnOrderLineOut:
    inventory_id: str
    quantity: int
    amount: Decimal


@dataclass(frozen=True)
class ReturnOrderOut:
    order_type: str
    customer_id: str
    customer_order: str  # "<channel order id>-R<refund id>": one return order per refund
    external_ref: str
    description: str
    lines: tuple[ReturnOrderLineOut, ...]


def return_order_body(ret: ReturnOrderOut) -> dict:
    """A refund as a return order (RC = return for credit, reference §2.7): refunded lines with Operation Receipt."""
    return wrap_entity({
        "OrderType": ret.order_type, "CustomerID": ret.customer_id, "CustomerOrder": ret.customer_order,
        "ExternalRef": ret.external_ref, "Description": ret.description, "Hold": False,
        "Details": [{"InventoryID": line.inventory_id, "OrderQty": line.quantity, "Operation": "Receipt",
                     "UnitPrice": (line.amount / line.quantity) if line.quantity else line.amount,
                     "ExtendedPrice": line.amount}
                    for line in ret.lines],
    })


# --- shipments ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentLine:
    order_type: str
    order_nbr: str
    inventory_id: str
    quantity: int


@dataclass(frozen=True)
class RemoteShipment:
    shipment_nbr: str
    status: str
    ship_via: str
    shipment_date: datetime | None
    updated_at: datetime | None
    tracking_numbers: tuple[str, ...]
    lines: tuple[ShipmentLine, ...]
    orders: tuple[tuple[str, str], ...] = ()  # (OrderType, OrderNbr)

    @property
    def confirmed(self) -> bool:
        return self.status.lower() in CONFIRMED_STATUSES


# Shipment statuses after ConfirmShipment (reference §2.7: the exact strings are unconfirmed; these are the ones
# Acumatica's UI shows for a confirmed shipment and what follows it).
CONFIRMED_STATUSES = frozenset({"confirmed", "completed", "invoiced", "partially invoiced", "released"})


def _dt(value) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a date: {value!r}")
    if parsed.tzinfo is None:
        from datetime import timezone as dt_timezone

        parsed = parsed.replace(tzinfo=dt_timezone.utc)
    return parsed


def shipment_from_json(data: dict) -> RemoteShipment:
    plain = unwrap_entity(data)
    nbr = str(plain.get("ShipmentNbr") or "")
    if not nbr:
        raise PayloadError("shipment without ShipmentNbr", external_id=str(plain.get("id", "")), field="ShipmentNbr")
    try:
        lines = tuple(ShipmentLine(order_type=str(d.get("OrderType") or ""), order_nbr=str(d.get("OrderNbr") or ""),
                                   inventory_id=str(d.get("InventoryID") or ""), quantity=int(Decimal(str(d.get("ShippedQty") or 0))))
                      for d in plain.get("Details") or [])
        orders = tuple((str(o.get("OrderType") or ""), str(o.get("OrderNbr") or "")) for o in plain.get("Orders") or [])
        tracking = tuple(str(p["TrackingNbr"]) for p in plain.get("Packages") or [] if p.get("TrackingNbr"))
        return RemoteShipment(shipment_nbr=nbr, status=str(plain.get("Status") or ""), ship_via=str(plain.get("ShipVia") or ""),
                              shipment_date=_dt(plain.get("ShipmentDate")), updated_at=_dt(plain.get("LastModifiedDateTime")),
                              tracking_numbers=tracking, lines=lines, orders=orders)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise PayloadError(f"shipment {nbr}: {exc}", external_id=nbr, field="Details") from None


# --- items, warehouses, inventory ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteStockItem:
    inventory_id: str
    description: str
    status: str
    price: Decimal | None
    updated_at: datetime | None
    barcode: str = ""


def stock_item_from_json(data: dict) -> RemoteStockItem:
    plain = unwrap_entity(data)
    inventory_id = str(plain.get("InventoryID") or "")
    if not inventory_id:
        raise PayloadError("stock item without InventoryID", external_id=str(plain.get("id", "")), field="InventoryID")
    try:
        price = Decimal(str(plain["DefaultPrice"])) if plain.get("DefaultPrice") is not None else None
        updated = _dt(plain.get("LastModified") or plain.get("LastModifiedDateTime"))
    except (ValueError, ArithmeticError) as exc:
        raise PayloadError(f"stock item {inventory_id}: {exc}", external_id=inventory_id, field="DefaultPrice") from None
    return RemoteStockItem(inventory_id=inventory_id, description=str(plain.get("Description") or ""),
                           status=str(plain.get("ItemStatus") or ""), price=price, updated_at=updated)


@dataclass(frozen=True)
class RemoteWarehouse:
    warehouse_id: str
    description: str
    active: bool = True


def warehouse_from_json(data: dict) -> RemoteWarehouse:
    plain = unwrap_entity(data)
    wid = str(plain.get("WarehouseID") or "")
    if not wid:
        raise PayloadError("warehouse without WarehouseID", external_id=str(plain.get("id", "")), field="WarehouseID")
    return RemoteWarehouse(warehouse_id=wid, description=str(plain.get("Description") or wid),
                           active=plain.get("Active") is not False)


@dataclass(frozen=True)
class StockFigure:
    inventory_id: str
    warehouse_id: str
    on_hand: int
    available: int


def inventory_summary_from_json(data: dict, *, inventory_id: str) -> list[StockFigure]:
    """InventorySummaryInquiry results, summed over locations per warehouse. Available = QtyAvailableForShipment
    (what can ship now; reference §2.7 leaves the choice to us)."""
    plain = unwrap_entity(data)
    totals: dict[str, list[Decimal]] = {}
    for row in plain.get("Results") or []:
        wid = str(row.get("WarehouseID") or "")
        if not wid:
            continue
        pair = totals.setdefault(wid, [Decimal(0), Decimal(0)])
        try:
            pair[0] += Decimal(str(row.get("QtyOnHand") or 0))
            avail = row.get("QtyAvailableForShipment")
            pair[1] += Decimal(str(avail if avail is not None else row.get("QtyAvailable") or 0))
        except ArithmeticError:
            raise PayloadError(f"inventory of {inventory_id}: unreadable quantity", external_id=inventory_id, field="QtyOnHand") from None
    return [StockFigure(inventory_id, wid, int(q[0]), max(0, int(q[1]))) for wid, q in sorted(totals.items())]


def odata_quote(value: str) -> str:
    """An OData string literal ('O''Brien')."""
    return "'" + str(value).replace("'", "''") + "'"


def odata_datetime(value: datetime) -> str:
    return f"datetimeoffset'{value.isoformat()}'"


@dataclass(frozen=True)
class EndpointInfo:
    version: str
    endpoints: tuple[str, ...] = field(default_factory=tuple)
