"""Acumatica emulator (sandbox only): a fake tenant speaking the contract-based REST API as the reference
describes it (§2): OAuth authorization code + refresh with rotation, the {"value": …} wrapper, PUT upsert with
If-None-Match/If-Match (412), $filter (eq/ne/gt/ge/lt/le, and, startswith on the fields the connector uses),
$expand of detail collections, $top/$skip, 422 entities with field errors (unknown customer, Ship Via, payment
method, item), CancelSalesOrder answering 202 with a Location to poll, shipments with packages and tracking, stock
items, warehouses, InventorySummaryInquiry, InventoryAdjustment + ReleaseAdjustment.

Progression: every request advances the tenant: an Open sales order older than `ship_delay_seconds` gets a shipment
(Open, one package with a tracking number), which is confirmed after the same delay again (order Completed).
`emulator_ship` does both at once (operator action)."""
from __future__ import annotations

import re
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.connectors.acumatica.models import EmuGrant, EmuInstance, EmuRecord

ENDPOINTS = (("Default", "23.200.001"), ("Default", "24.200.001"))
KEYS = {"SalesOrder": ("OrderType", "OrderNbr"), "Shipment": ("ShipmentNbr",), "StockItem": ("InventoryID",),
        "Warehouse": ("WarehouseID",), "Customer": ("CustomerID",), "InventoryAdjustment": ("ReferenceNbr",)}
DETAILS = {"SalesOrder": ("Details", "Shipments"), "Shipment": ("Details", "Orders", "Packages"),
           "StockItem": ("WarehouseDetails",), "InventoryAdjustment": ("Details",)}
MODIFIED = {"SalesOrder": "LastModified", "Shipment": "LastModifiedDateTime", "StockItem": "LastModified",
            "Warehouse": "LastModified", "InventoryAdjustment": "LastModifiedDateTime"}
ACCESS_TTL = timedelta(hours=1)


class EmuError(Exception):
    def __init__(self, status: int, body: dict | None = None, *, headers: dict | None = None):
        super().__init__(str(body))
        self.status, self.body, self.headers = status, body or {}, headers or {}


def http_error(status: int, message: str) -> EmuError:
    return EmuError(status, {"message": "An error has occurred.", "exceptionMessage": message,
                             "exceptionType": "PX.Data.PXException"})


# --- seeding and operator actions ------------------------------------------------------------------------------


def emulator_seed(*, name: str = "demo", client_id: str = "demo-client@Demo", client_secret: str = "demo-secret",
                  customers=("TIKTOK",), ship_vias=("UPSGROUND", "FEDEX2DAY"), payment_methods=("TTS",),
                  warehouses=(("MAIN", "Main warehouse"),), items=(), quantity: int = 25, ship_delay_seconds: int = 10,
                  action_polls: int = 1) -> EmuInstance:
    """Create or reset a tenant with its reference data. `items`: InventoryIDs stocked `quantity` in every warehouse."""
    instance, _ = EmuInstance.objects.update_or_create(
        name=name, defaults={"client_id": client_id, "client_secret": client_secret,
                             "ship_delay_seconds": ship_delay_seconds, "action_polls": action_polls})
    for cid in customers:
        _put(instance, "Customer", {"CustomerID": cid, "CustomerName": f"{cid} (generic)", "Status": "Active"})
    for code in ship_vias:
        _put(instance, "ShipVia", {"ShipViaID": code}, key=code)
    for code in payment_methods:
        _put(instance, "PaymentMethod", {"PaymentMethodID": code}, key=code)
    for wid, description in warehouses:
        _put(instance, "Warehouse", {"WarehouseID": wid, "Description": description, "Active": True})
    for item in items:
        _put(instance, "StockItem", {"InventoryID": item, "Description": item.replace("-", " ").title(), "ItemStatus": "Active",
                                     "DefaultPrice": 10.0})
        for wid, _ in warehouses:
            _put(instance, "Stock", {"InventoryID": item, "WarehouseID": wid, "QtyOnHand": quantity}, key=f"{item}|{wid}")
    return instance


def emulator_add(*, instance: EmuInstance, entity: str, code: str) -> None:
    """Operator action: a Ship Via, payment method or customer now exists in the tenant."""
    field = {"ShipVia": "ShipViaID", "PaymentMethod": "PaymentMethodID", "Customer": "CustomerID"}[entity]
    _put(instance, entity, {field: code}, key=code)


def emulator_ship(*, instance: EmuInstance, order_nbr: str, order_type: str = "SO", tracking: str = "", confirm: bool = True,
                  quantities: dict[str, int] | None = None) -> dict:
    """Operator action: create (and by default confirm) a shipment for a sales order; partial with `quantities`."""
    order = _get(instance, "SalesOrder", f"{order_type}/{order_nbr}")
    if order is None:
        raise ValueError(f"no sales order {order_type}/{order_nbr}")
    shipment = _create_shipment(instance, order, tracking=tracking, quantities=quantities)
    if confirm:
        _confirm(instance, shipment)
    return shipment.data


def emulator_advance(*, instance: EmuInstance, now: datetime | None = None) -> None:
    now = now or timezone.now()
    delay = timedelta(seconds=instance.ship_delay_seconds)
    for order in EmuRecord.objects.filter(instance=instance, entity="SalesOrder", data__Status="Open", created_at__lte=now - delay,
                                          data__OrderType="SO"):
        if not order.data.get("Shipments"):
            _create_shipment(instance, order)
    for shipment in EmuRecord.objects.filter(instance=instance, entity="Shipment", data__Status="Open", updated_at__lte=now - delay):
        _confirm(instance, shipment)


# --- storage -------------------------------------------------------------------------------------------------


def _key(entity: str, data: dict) -> str:
    return "/".join(str(data.get(k) or "") for k in KEYS.get(entity, ()))


def _put(instance: EmuInstance, entity: str, data: dict, *, key: str = "") -> EmuRecord:
    key = key or _key(entity, data)
    now = timezone.now()
    if entity in MODIFIED:
        data = {**data, MODIFIED[entity]: now.isoformat()}
    record, created = EmuRecord.objects.get_or_create(instance=instance, entity=entity, key=key,
                                                      defaults={"guid": str(uuid.uuid4()), "data": data})
    if not created:
        record.data = {**record.data, **data}
        record.updated_at = now
        record.save(update_fields=["data", "updated_at"])
    return record


def _get(instance: EmuInstance, entity: str, key: str) -> EmuRecord | None:
    return EmuRecord.objects.filter(instance=instance, entity=entity, key=key).first()


def _next(instance: EmuInstance, width: int = 6) -> str:
    EmuInstance.objects.filter(pk=instance.pk).update(sequence=F("sequence") + 1)
    instance.refresh_from_db(fields=["sequence"])
    return str(instance.sequence).zfill(width)


def _create_shipment(instance: EmuInstance, order: EmuRecord, *, tracking: str = "", quantities: dict | None = None) -> EmuRecord:
    nbr = _next(instance)
    lines = []
    for d in order.data.get("Details") or []:
        qty = (quantities or {}).get(d["InventoryID"], d.get("OrderQty", 0))
        if qty:
            lines.append({"OrderType": order.data["OrderType"], "OrderNbr": order.data["OrderNbr"], "InventoryID": d["InventoryID"],
                          "ShippedQty": qty, "WarehouseID": d.get("WarehouseID", "")})
    shipment = _put(instance, "Shipment", {
        "ShipmentNbr": nbr, "Type": "Shipment", "Status": "Open", "Operation": "Issue", "CustomerID": order.data.get("CustomerID"),
        "ShipVia": order.data.get("ShipVia", ""), "ShipmentDate": timezone.now().isoformat(), "Details": lines,
        "Orders": [{"OrderType": order.data["OrderType"], "OrderNbr": order.data["OrderNbr"]}],
        "Packages": [{"LineNbr": 1, "BoxID": "BOX", "TrackingNbr": tracking or f"1Z{secrets.token_hex(6).upper()}", "Confirmed": False}],
    })
    shipments = list(order.data.get("Shipments") or []) + [{"ShipmentNbr": nbr, "ShipmentType": "Shipment", "Status": "Open"}]
    _put(instance, "SalesOrder", {"Shipments": shipments, "Status": "Shipping"}, key=order.key)
    return shipment


def _confirm(instance: EmuInstance, shipment: EmuRecord) -> None:
    packages = [{**p, "Confirmed": True} for p in shipment.data.get("Packages") or []]
    _put(instance, "Shipment", {"Status": "Confirmed", "Packages": packages}, key=shipment.key)
    for line in shipment.data.get("Details") or []:
        stock = _get(instance, "Stock", f"{line['InventoryID']}|{line.get('WarehouseID', '')}")
        if stock is not None:
            _put(instance, "Stock", {"QtyOnHand": stock.data.get("QtyOnHand", 0) - line["ShippedQty"]}, key=stock.key)
    for ref in shipment.data.get("Orders") or []:
        order = _get(instance, "SalesOrder", f"{ref['OrderType']}/{ref['OrderNbr']}")
        if order is not None:
            shipments = [{**s, "Status": "Confirmed"} if s["ShipmentNbr"] == shipment.data["ShipmentNbr"] else s
                         for s in order.data.get("Shipments") or []]
            _put(instance, "SalesOrder", {"Shipments": shipments, "Status": "Completed"}, key=order.key)


# --- identity server -------------------------------------------------------------------------------------------


def authorize(*, client_id: str, redirect_uri: str, state: str, scope: str) -> str:
    """Auto-approves (the sandbox has no login): the redirect URL carrying a fresh code and the state."""
    instance = EmuInstance.objects.filter(client_id=client_id).first()
    if instance is None:
        raise EmuError(401, {"error": "invalid_client"})
    if "api" not in scope.split():
        raise EmuError(400, {"error": "invalid_scope"})
    code = secrets.token_urlsafe(24)
    EmuGrant.objects.create(instance=instance, kind="code", value=code, redirect_uri=redirect_uri,
                            expires_at=timezone.now() + timedelta(minutes=5))
    sep = "&" if "?" in redirect_uri else "?"
    from urllib.parse import urlencode

    return f"{redirect_uri}{sep}{urlencode({'code': code, 'state': state})}"


@transaction.atomic
def token(*, form: dict) -> dict:
    instance = EmuInstance.objects.filter(client_id=form.get("client_id", "")).first()
    if instance is None or instance.client_secret != form.get("client_secret"):
        raise EmuError(401, {"error": "invalid_client"})
    grant_type = form.get("grant_type")
    now = timezone.now()
    if grant_type == "authorization_code":
        grant = EmuGrant.objects.select_for_update().filter(instance=instance, kind="code", value=form.get("code", "")).first()
        if grant is None or grant.used or grant.expires_at <= now or grant.redirect_uri != form.get("redirect_uri"):
            raise EmuError(400, {"error": "invalid_grant"})
    elif grant_type == "refresh_token":
        grant = EmuGrant.objects.select_for_update().filter(instance=instance, kind="refresh",
                                                            value=form.get("refresh_token", "")).first()
        if grant is None or grant.used or grant.expires_at <= now:
            raise EmuError(400, {"error": "invalid_grant"})
    else:
        raise EmuError(400, {"error": "unsupported_grant_type"})
    grant.used = True  # codes are single-use, refresh tokens rotate
    grant.save(update_fields=["used"])
    access = EmuGrant.objects.create(instance=instance, kind="access", value=secrets.token_urlsafe(32), expires_at=now + ACCESS_TTL)
    refresh = EmuGrant.objects.create(instance=instance, kind="refresh", value=secrets.token_urlsafe(32),
                                      expires_at=now + timedelta(days=30))
    return {"access_token": access.value, "token_type": "Bearer", "expires_in": int(ACCESS_TTL.total_seconds()),
            "refresh_token": refresh.value, "scope": "api offline_access"}


def emulator_revoke(*, instance: EmuInstance) -> None:
    """Operator action: the Connected Application's grants are revoked (every token stops working)."""
    EmuGrant.objects.filter(instance=instance).update(used=True, expires_at=timezone.now())


def authenticate(*, authorization: str) -> EmuInstance:
    value = authorization[7:] if authorization.startswith("Bearer ") else ""
    grant = EmuGrant.objects.filter(kind="access", value=value, used=False).select_related("instance").first() if value else None
    if grant is None or grant.expires_at <= timezone.now():
        raise EmuError(401, {"message": "You are not logged in."})
    return grant.instance


def rate_limit(*, instance: EmuInstance, now: datetime | None = None) -> None:
    now = now or timezone.now()
    if now - instance.window_started_at >= timedelta(minutes=1):
        EmuInstance.objects.filter(pk=instance.pk).update(window_started_at=now, window_count=1)
        return
    EmuInstance.objects.filter(pk=instance.pk).update(window_count=F("window_count") + 1)
    instance.refresh_from_db(fields=["window_count"])
    if instance.window_count > instance.rate_limit_per_minute:
        retry = max(1, 60 - int((now - instance.window_started_at).total_seconds()))
        raise EmuError(429, {"message": "API Login Limit"}, headers={"Retry-After": str(retry)})


# --- the contract-based API ------------------------------------------------------------------------------------


def endpoints() -> dict:
    return {"version": {"acumaticaBuildVersion": "23.210.0015", "databaseVersion": "23.210.0015"},
            "endpoints": [{"name": n, "version": v, "href": f"/entity/{n}/{v}/"} for n, v in ENDPOINTS]}


def wrap(data: dict) -> dict:
    from integrations.connectors.acumatica.mappers import wrap_entity

    return wrap_entity(data)


def unwrap(data: dict) -> dict:
    from integrations.connectors.acumatica.mappers import unwrap_entity

    return unwrap_entity(data)


def _view(record: EmuRecord, expand: set[str]) -> dict:
    data = {k: v for k, v in record.data.items() if k not in DETAILS.get(record.entity, ()) or k in expand}
    return {"id": record.guid, "rowNumber": 1, **wrap(data)}


_CLAUSE = re.compile(r"^\s*(?P<field>[\w/]+)\s+(?P<op>eq|ne|gt|ge|lt|le)\s+(?P<lit>.+?)\s*$")
_STARTS = re.compile(r"^\s*startswith\((?P<field>[\w/]+),\s*'(?P<lit>(?:[^']|'')*)'\)\s*$")


def _literal(text: str):
    if text.startswith("datetimeoffset'") and text.endswith("'"):
        value = parse_datetime(text[15:-1])
        if value is None:
            raise http_error(400, f"Invalid datetime literal {text}")
        return value
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1].replace("''", "'")
    if text in ("true", "false"):
        return text == "true"
    try:
        return Decimal(text.rstrip("mM"))
    except ArithmeticError:
        raise http_error(400, f"Invalid literal {text}") from None


def _compare(value, op: str, literal) -> bool:
    if isinstance(literal, datetime):
        value = parse_datetime(str(value)) if value else None
        if value is None:
            return False
    elif isinstance(literal, Decimal):
        try:
            value = Decimal(str(value))
        except ArithmeticError:
            return False
    elif isinstance(literal, str):
        value = "" if value is None else str(value)
    return {"eq": value == literal, "ne": value != literal, "gt": value > literal, "ge": value >= literal,
            "lt": value < literal, "le": value <= literal}[op]


def _matches(data: dict, expression: str) -> bool:
    for clause in re.split(r"\s+and\s+", expression.strip()) if expression.strip() else []:
        starts = _STARTS.match(clause)
        if starts:
            if not str(data.get(starts["field"]) or "").startswith(starts["lit"].replace("''", "'")):
                return False
            continue
        m = _CLAUSE.match(clause)
        if not m:
            raise http_error(400, f"Unsupported $filter clause: {clause}")
        value = data
        for part in m["field"].split("/"):
            value = value.get(part) if isinstance(value, dict) else None
        if not _compare(value, m["op"], _literal(m["lit"])):
            return False
    return True


def entity_list(*, instance: EmuInstance, entity: str, params) -> list[dict]:
    _known(entity)
    rows = [r for r in EmuRecord.objects.filter(instance=instance, entity=entity).order_by("key")
            if _matches(r.data, params.get("$filter", ""))]
    try:
        skip, top = int(params.get("$skip", 0)), int(params.get("$top", 0) or 0)
    except ValueError:
        raise http_error(400, "$top/$skip must be integers") from None
    rows = rows[skip:skip + top] if top else rows[skip:]
    expand = set(filter(None, params.get("$expand", "").split(",")))
    return [_view(r, expand) for r in rows]


def entity_get(*, instance: EmuInstance, entity: str, keys: list[str], params) -> dict:
    _known(entity)
    record = _get(instance, entity, "/".join(keys))
    if record is None:
        raise http_error(404, f"No entity satisfies the condition ({entity} {'/'.join(keys)}).")
    return _view(record, set(filter(None, params.get("$expand", "").split(","))))


def _known(entity: str) -> None:
    if entity not in KEYS:
        raise http_error(404, f"Entity {entity} is not found in the endpoint.")


def entity_put(*, instance: EmuInstance, entity: str, body: dict, headers: dict, params) -> dict:
    if entity == "InventorySummaryInquiry":
        return _inventory_summary(instance, unwrap(body))
    _known(entity)
    data = unwrap(body)
    key = _key(entity, data) if all(data.get(k) for k in KEYS[entity]) else ""
    existing = _get(instance, entity, key) if key else None
    if headers.get("If-None-Match") == "*" and existing is not None:
        raise http_error(412, f"{entity} {key} already exists.")
    if headers.get("If-Match") == "*" and existing is None:
        raise http_error(412, f"{entity} {key or '(new)'} does not exist.")
    if entity == "SalesOrder":
        record = _sales_order_put(instance, data, existing)
    elif entity == "InventoryAdjustment":
        data.update(ReferenceNbr=data.get("ReferenceNbr") or _next(instance), Status="Balanced")
        record = _put(instance, entity, data)
    else:
        record = _put(instance, entity, data)
    return _view(record, set(filter(None, params.get("$expand", "").split(","))))


def _sales_order_put(instance: EmuInstance, data: dict, existing: EmuRecord | None) -> EmuRecord:
    errors: dict = {}
    wrapped = wrap({k: v for k, v in data.items() if k != "Details"})
    if existing is None:
        checks = (("CustomerID", "Customer", "'Customer' cannot be found in the system."),
                  ("ShipVia", "ShipVia", "'Ship Via' cannot be found in the system."),
                  ("PaymentMethod", "PaymentMethod", "'Payment Method' cannot be found in the system."))
        for field, entity, message in checks:
            if data.get(field) and _get(instance, entity, str(data[field])) is None:
                wrapped[field] = {"value": data[field], "error": message}
                errors[field] = message
        if not data.get("CustomerID"):
            wrapped["CustomerID"] = {"value": None, "error": "'Customer' cannot be empty."}
            errors["CustomerID"] = "empty"
    lines = []
    for detail in data.get("Details") or []:
        line = wrap(detail)
        if _get(instance, "StockItem", str(detail.get("InventoryID") or "")) is None:
            line["InventoryID"] = {"value": detail.get("InventoryID"), "error": "'Inventory ID' cannot be found in the system."}
            errors.setdefault("Details", "item")
        lines.append(line)
    if errors:
        raise EmuError(422, {**wrapped, "Details": lines, "error": "Inserting 'Sales Order' record raised at least one error."})
    if existing is None:
        data.update(OrderType=data.get("OrderType") or "SO", OrderNbr=data.get("OrderNbr") or _next(instance),
                    Status="Open", Shipments=[], CreatedDate=timezone.now().isoformat())
    return _put(instance, "SalesOrder", data)


def _inventory_summary(instance: EmuInstance, data: dict) -> dict:
    item = str(data.get("InventoryID") or "")
    rows = []
    for stock in EmuRecord.objects.filter(instance=instance, entity="Stock", key__startswith=f"{item}|").order_by("key"):
        wid = stock.data["WarehouseID"]
        if data.get("WarehouseID") and data["WarehouseID"] != wid:
            continue
        committed = sum(d.get("OrderQty", 0) for o in EmuRecord.objects.filter(instance=instance, entity="SalesOrder",
                                                                             data__Status__in=["Open", "Shipping"])
                        for d in o.data.get("Details") or [] if d.get("InventoryID") == item and d.get("WarehouseID", wid) == wid)
        on_hand = stock.data.get("QtyOnHand", 0)
        rows.append({"WarehouseID": wid, "LocationID": "R1S1", "QtyOnHand": on_hand, "QtyAvailable": on_hand - committed,
                     "QtyAvailableForShipment": max(0, on_hand - committed), "QtyNotAvailable": 0, "BaseUOM": "EA"})
    return {"id": str(uuid.uuid4()), **wrap({"InventoryID": item, "WarehouseID": data.get("WarehouseID"), "Results": rows})}


def action_post(*, instance: EmuInstance, entity: str, action: str, body: dict, status_url: str) -> tuple[int, dict]:
    """204 when done; CancelSalesOrder answers 202 + Location for `action_polls` polls first."""
    keys = unwrap(body.get("entity") or {})
    if entity == "SalesOrder" and action == "CancelSalesOrder":
        order = _get(instance, "SalesOrder", f"{keys.get('OrderType')}/{keys.get('OrderNbr')}")
        if order is None:
            raise http_error(404, "The sales order was not found.")
        if order.data.get("Status") in ("Completed", "Shipping"):
            raise http_error(422, "The order cannot be canceled: it has shipments.")
        if instance.action_polls:
            guid = str(uuid.uuid4())
            _put(instance, "Action", {"polls": instance.action_polls, "order": order.key}, key=guid)
            return 202, {"Location": f"{status_url}/{guid}"}
        _put(instance, "SalesOrder", {"Status": "Canceled"}, key=order.key)
        return 204, {}
    if entity == "InventoryAdjustment" and action == "ReleaseAdjustment":
        adj = _get(instance, "InventoryAdjustment", str(keys.get("ReferenceNbr") or ""))
        if adj is None:
            raise http_error(404, "The adjustment was not found.")
        if adj.data.get("Status") != "Released":
            for d in adj.data.get("Details") or []:
                key = f"{d['InventoryID']}|{d['WarehouseID']}"
                stock = _get(instance, "Stock", key)
                before = stock.data.get("QtyOnHand", 0) if stock else 0
                _put(instance, "Stock", {"InventoryID": d["InventoryID"], "WarehouseID": d["WarehouseID"],
                                         "QtyOnHand": before + int(Decimal(str(d["Qty"])))}, key=key)
            _put(instance, "InventoryAdjustment", {"Status": "Released"}, key=adj.key)
        return 204, {}
    raise http_error(404, f"Action {action} is not found on {entity}.")


def action_status(*, instance: EmuInstance, guid: str, status_url: str) -> tuple[int, dict]:
    record = _get(instance, "Action", guid)
    if record is None:
        raise http_error(404, "Unknown operation.")
    polls = int(record.data.get("polls", 0)) - 1
    if polls > 0:
        _put(instance, "Action", {"polls": polls}, key=guid)
        return 202, {"Location": f"{status_url}/{guid}"}
    if record.data.get("order"):
        _put(instance, "SalesOrder", {"Status": "Canceled"}, key=record.data["order"])
    record.delete()
    return 204, {}
