"""OSA wire contract v1 (ASSUMED — see README.md): every piece of OSA wire knowledge lives here.

`OsaAdapterV1` is the HTTP client (one method per endpoint, paths as constants, auth, error
classification); the module-level functions are pure mappings between OSA JSON and the connector's
dataclasses. Flows only see the dataclasses, so a real OSA specification replaces this module
without touching them."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterator

import requests
from django.utils.dateparse import parse_datetime

from catalog.sku import sku_normalize
from integrations.exceptions import AuthError, PayloadError, PermanentError
from integrations.http import BaseClient, RequestBudget, parse_retry_after

CONTRACT_VERSION = "osa-uc3-v1-assumed"

# Paths (relative to the environment's base URL, which ends in /api/v1).
ACCOUNT = "/account"
ORDERS = "/orders"
ORDER = "/orders/{order_id}"
ORDER_CANCEL = "/orders/{order_id}/cancel"
SHIPMENTS = "/shipments"
INVENTORY = "/inventory"
LOCATIONS = "/locations"
PRODUCTS = "/products"
PRODUCT = "/products/{sku}"
RETURNS = "/returns"
ARRIVALS = "/arrivals"
RECEIPTS = "/receipts"

PER_PAGE = 100
DOMAIN_HEADER = "X-OSA-Domain"
CONTRACT_HEADER = "X-OSA-Contract"

# OSA's predefined inventory types (custom values are rejected by OSA).
INVENTORY_TYPES = ("standard", "lot_controlled", "serialized", "hazmat", "perishable")

# OSA order statuses (v1).
WAITING, SUCCESS, PARTIALLY_SHIPPED, SHIPPED, CANCELED = "waiting", "success", "partially_shipped", "shipped", "canceled"
ORDER_STATUSES = (WAITING, SUCCESS, PARTIALLY_SHIPPED, SHIPPED, CANCELED)
# Location types.
LOC_WAREHOUSE, LOC_MANAGED = "warehouse", "managed"

# Error codes OSA answers with (body {"error": {"code", "message", "details"}}).
ERR_DUPLICATE_REFERENCE = "duplicate_reference"
ERR_DUPLICATE_SKU = "duplicate_sku"
ERR_ALREADY_SHIPPED = "already_shipped"
ERR_UNKNOWN_SKU = "unknown_sku"
ERR_INVALID_SHIPPING_METHOD = "invalid_shipping_method"
ERR_INVALID_INVENTORY_TYPE = "invalid_inventory_type"
ERR_ASIN_WEIGHT = "asin_weight_modified"
ERR_NOT_FOUND = "not_found"


class OsaRejected(PermanentError):
    """A 4xx answer about one record (not auth): carries OSA's error code and the remote id if any."""

    def __init__(self, message: str, *, status: int, code: str, remote_id: str = "", details: list | None = None):
        super().__init__(message, status=status, code=code)
        self.remote_id = remote_id
        self.details = details or []


# --- dataclasses the flows use ----------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    domain: str
    name: str
    store_id: str


@dataclass(frozen=True)
class ProductInfo:
    sku: str
    name: str
    barcode: str = ""
    weight: Decimal | None = None
    weight_unit: str = "lb"
    length: Decimal | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    dimension_unit: str = "in"
    inventory_type: str = "standard"
    asin: str = ""


@dataclass(frozen=True)
class ShippingRequestLineOut:
    line_ref: str
    sku: str
    quantity: int
    product: ProductInfo
    unit_price: Decimal = Decimal("0")


@dataclass(frozen=True)
class ShippingRequestOut:
    reference: str
    order_number: str
    shipping_method: str
    warehouse_code: str | None
    managed_routing: bool
    ship_to: dict
    lines: tuple[ShippingRequestLineOut, ...]
    requested_ship_date: datetime | None = None
    notes: str = ""


@dataclass(frozen=True)
class RemoteOrder:
    order_id: str
    reference: str
    number: str
    status: str
    warehouse_code: str
    cancel_reason: str
    created_at: datetime | None
    updated_at: datetime | None


@dataclass(frozen=True)
class ShipmentLine:
    sku: str
    quantity: int


@dataclass(frozen=True)
class RemoteShipment:
    shipment_id: str
    order_id: str
    order_number: str
    reference: str
    carrier: str
    service: str
    tracking_numbers: tuple[str, ...]
    tracking_url: str
    shipped_at: datetime | None
    updated_at: datetime | None
    lines: tuple[ShipmentLine, ...]


@dataclass(frozen=True)
class RemoteLocation:
    code: str
    name: str
    type: str
    address: dict
    is_default: bool


@dataclass(frozen=True)
class RemoteInventory:
    sku: str
    location_code: str
    location_type: str
    fulfillable: int
    on_hand: int | None


@dataclass(frozen=True)
class RmaLineOut:
    sku: str
    quantity: int
    requested_action: str = "restock"


@dataclass(frozen=True)
class RmaOut:
    reference: str
    order_reference: str
    warehouse_code: str | None
    lines: tuple[RmaLineOut, ...]
    reason: str = ""
    tracking_number: str = ""


@dataclass(frozen=True)
class RemoteReturn:
    rma_id: str
    reference: str
    order_reference: str
    status: str
    tracking_number: str
    created_at: datetime | None
    updated_at: datetime | None
    lines: tuple[ShipmentLine, ...]  # received quantities


@dataclass(frozen=True)
class ArrivalOut:
    reference: str
    type: str  # inbound | po
    warehouse_code: str
    expected_at: datetime | None
    lines: tuple[ShipmentLine, ...]


@dataclass(frozen=True)
class RemoteReceipt:
    receipt_id: str
    arrival_id: str
    arrival_reference: str
    warehouse_code: str
    received_at: datetime | None
    updated_at: datetime | None
    lines: tuple[ShipmentLine, ...]


@dataclass
class ListPage:
    items: list
    next_page: int | None
    # Records that could not be mapped (recorded per record by the flow; the rest of the page goes on).
    errors: list = field(default_factory=list)
    # OSA's clock when it answered (lists that carry "as_of"): rows updated later are not in this answer.
    as_of: datetime | None = None


def _map_all(fn, rows) -> tuple[list, list[PayloadError]]:
    items, errors = [], []
    for row in rows or []:
        try:
            items.append(fn(row))
        except PayloadError as exc:
            errors.append(exc)
    return items, errors


def _page(fn, body: dict, key: str) -> ListPage:
    items, errors = _map_all(fn, body.get(key))
    try:
        as_of = _dt(body.get("as_of"), field_name="as_of")
    except PayloadError:
        as_of = None
    return ListPage(items, body.get("next_page"), errors, as_of)


# --- client -----------------------------------------------------------------------------------


class AccountRateLimit:
    """The OSA account's request rate, shared by every worker process and machine (integrations/outbound_rate.py),
    keyed by the OSA domain: `settings.OSA_REQUESTS_PER_MINUTE` (default 120, i.e. 2 per second, what the former
    per-process budget allowed each process). Plugs into BaseClient's `budget` hook."""

    def __init__(self, *, key: str, per_minute: int) -> None:
        self.key, self.per_minute = key, per_minute

    def acquire(self) -> None:
        from integrations.outbound_rate import outbound_slot_acquire

        outbound_slot_acquire(key=self.key, limit=self.per_minute, per_seconds=60)

    def pause(self, seconds: float) -> None:
        from integrations.outbound_rate import outbound_pause

        outbound_pause(key=self.key, seconds=seconds)


def account_rate_limit(domain: str) -> AccountRateLimit:
    from django.conf import settings

    return AccountRateLimit(key=f"osa:{domain}", per_minute=int(getattr(settings, "OSA_REQUESTS_PER_MINUTE", 120)))


class OsaAdapterV1(BaseClient):
    """HTTP Basic auth (API Key : API Secret) plus the OSA Domain header on every call."""

    role = "osa"

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        api_secret: str,
        domain: str,
        counter=None,
        session: requests.Session | None = None,
        budget: RequestBudget | None = None,
    ) -> None:
        super().__init__(
            base_url=base_url,
            counter=counter,
            session=session,
            budget=budget if budget is not None else account_rate_limit(domain),
        )
        self._auth = "Basic " + base64.b64encode(f"{api_key}:{api_secret}".encode()).decode()
        self.domain = domain
        # Called once, on the first answer showing OSA accepted the credentials (any status but 401/403/429/5xx).
        self.on_authenticated = None

    def finalize_request(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = self._auth
        prepared.headers[DOMAIN_HEADER] = self.domain
        prepared.headers[CONTRACT_HEADER] = CONTRACT_VERSION
        prepared.headers["Accept"] = "application/json"
        return prepared

    def classify(self, response: requests.Response) -> Any:
        status = response.status_code
        if status == 429 and isinstance(self.budget, AccountRateLimit):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after:  # every worker calling this account waits until then
                self.budget.pause(retry_after)
        if self.on_authenticated is not None and status < 500 and status not in (401, 403, 429):
            callback, self.on_authenticated = self.on_authenticated, None
            callback()
        if status in (401, 403):
            error = _error_body(response)
            raise AuthError(
                f"OSA rejected the credentials ({status} {error.get('code', '')}): {error.get('message', '')}".strip(),
                status=status,
                code=error.get("code"),
            )
        if 400 <= status < 500 and status != 429:
            error = _error_body(response)
            raise OsaRejected(
                f"OSA rejected the request ({status} {error.get('code', 'error')}): {error.get('message', '')}",
                status=status,
                code=error.get("code", ""),
                remote_id=str(error.get("order_id") or error.get("id") or ""),
                details=error.get("details") or [],
            )
        return super().classify(response)

    # account
    def account_get(self) -> Account:
        body = self.request("GET", ACCOUNT)
        return account_from_json(body)

    # orders
    def order_create(self, *, request: ShippingRequestOut) -> RemoteOrder:
        """Idempotent on `reference`: a duplicate-reference answer returns the existing order."""
        try:
            body = self.request("POST", ORDERS, json=shipping_request_to_json(request))
        except OsaRejected as exc:
            if exc.code == ERR_DUPLICATE_REFERENCE:
                existing = self.order_find(reference=request.reference)
                if existing is not None:
                    return existing
            raise
        return order_from_json(body["order"])

    def order_find(self, *, reference: str) -> RemoteOrder | None:
        body = self.request("GET", ORDERS, params={"reference": reference})
        orders = body.get("orders") or []
        return order_from_json(orders[0]) if orders else None

    def orders_list(self, *, updated_since: datetime | None = None, status: str = "", page: int = 1) -> ListPage:
        params: dict[str, Any] = {"page": page, "per_page": PER_PAGE, "sort": "updated_at"}
        if updated_since:
            params["updated_since"] = updated_since.isoformat()
        if status:
            params["status"] = status
        body = self.request("GET", ORDERS, params=params)
        return _page(order_from_json, body, "orders")

    def order_cancel(self, *, order_id: str, reason: str = "") -> bool:
        """True when canceled; False when OSA says it is too late (already shipped)."""
        try:
            self.request("POST", ORDER_CANCEL.format(order_id=order_id), json={"reason": reason})
        except OsaRejected as exc:
            if exc.code == ERR_ALREADY_SHIPPED:
                return False
            raise
        return True

    # shipments
    def shipments_list(self, *, updated_since: datetime | None = None, page: int = 1) -> ListPage:
        params: dict[str, Any] = {"page": page, "per_page": PER_PAGE}
        if updated_since:
            params["updated_since"] = updated_since.isoformat()
        body = self.request("GET", SHIPMENTS, params=params)
        return _page(shipment_from_json, body, "shipments")

    # inventory and locations
    def inventory_list(self, *, page: int = 1) -> ListPage:
        body = self.request("GET", INVENTORY, params={"page": page, "per_page": PER_PAGE})
        return _page(inventory_from_json, body, "inventory")

    def locations_list(self) -> ListPage:
        body = self.request("GET", LOCATIONS)
        return _page(location_from_json, body, "locations")

    # products
    def product_create(self, *, product: ProductInfo) -> bool:
        """True when created; False when OSA already has the SKU."""
        try:
            self.request("POST", PRODUCTS, json=product_to_json(product))
        except OsaRejected as exc:
            if exc.code == ERR_DUPLICATE_SKU:
                return False
            raise
        return True

    def product_update(self, *, product: ProductInfo) -> None:
        self.request("PUT", PRODUCT.format(sku=requests.utils.quote(product.sku, safe="")), json=product_to_json(product))

    # returns
    def return_create(self, *, rma: RmaOut) -> str:
        try:
            body = self.request("POST", RETURNS, json=rma_to_json(rma))
        except OsaRejected as exc:
            if exc.code == ERR_DUPLICATE_REFERENCE and exc.remote_id:
                return exc.remote_id
            raise
        return str(body["return"]["id"])

    def returns_list(self, *, updated_since: datetime | None = None, page: int = 1) -> ListPage:
        params: dict[str, Any] = {"page": page, "per_page": PER_PAGE}
        if updated_since:
            params["updated_since"] = updated_since.isoformat()
        body = self.request("GET", RETURNS, params=params)
        return _page(return_from_json, body, "returns")

    # inbound
    def arrival_create(self, *, arrival: ArrivalOut) -> str:
        try:
            body = self.request("POST", ARRIVALS, json=arrival_to_json(arrival))
        except OsaRejected as exc:
            if exc.code == ERR_DUPLICATE_REFERENCE and exc.remote_id:
                return exc.remote_id
            raise
        return str(body["arrival"]["id"])

    def receipts_list(self, *, updated_since: datetime | None = None, page: int = 1) -> ListPage:
        params: dict[str, Any] = {"page": page, "per_page": PER_PAGE}
        if updated_since:
            params["updated_since"] = updated_since.isoformat()
        body = self.request("GET", RECEIPTS, params=params)
        return _page(receipt_from_json, body, "receipts")


def iterate(fetch, **kwargs) -> Iterator[ListPage]:
    """Follow `next_page` from page 1."""
    page: int | None = 1
    while page:
        result = fetch(page=page, **kwargs)
        yield result
        page = result.next_page if result.next_page and result.next_page > page else None


def _error_body(response: requests.Response) -> dict:
    try:
        body = response.json()
    except ValueError:
        return {"message": response.text[:300]}
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else {"message": str(body)[:300]}


# --- pure mapping -----------------------------------------------------------------------------


def _dt(value: Any, *, external_id: str = "", field_name: str = "") -> datetime | None:
    if value in (None, ""):
        return None
    parsed = parse_datetime(str(value))
    if parsed is None or parsed.tzinfo is None:
        raise PayloadError(f"unreadable timestamp {value!r}", external_id=external_id, field=field_name)
    return parsed


def _qty(value: Any, *, external_id: str, field_name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise PayloadError(f"quantity {value!r} is not an integer", external_id=external_id, field=field_name) from None
    return number


def _lines(raw: Any, *, external_id: str) -> tuple[ShipmentLine, ...]:
    lines = []
    for line in raw or []:
        # Inbound SKUs are normalised like every SKU entering Switchyard (catalog/sku.py) before matching.
        sku = sku_normalize(line.get("sku"))
        if not sku:
            raise PayloadError("line without sku", external_id=external_id, field="lines.sku")
        lines.append(
            ShipmentLine(
                sku=sku, quantity=_qty(line.get("quantity"), external_id=external_id, field_name="lines.quantity")
            )
        )
    return tuple(lines)


def account_from_json(body: dict) -> Account:
    return Account(domain=str(body.get("domain", "")), name=str(body.get("name", "")), store_id=str(body.get("store_id", "")))


def reference_from_order_number(number: str, *, store_id: str) -> str:
    """OSA prefaces order numbers with the store id ("1042-SY-000017"); strip it to get our reference."""
    prefix = f"{store_id}-" if store_id else ""
    if prefix and number.startswith(prefix):
        return number[len(prefix) :]
    return number


def _money(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def product_to_json(p: ProductInfo) -> dict:
    body = {
        "sku": p.sku,
        "name": p.name,
        "barcode": p.barcode or None,
        "inventory_type": p.inventory_type,
        "dimensions": {
            "length": _money(p.length),
            "width": _money(p.width),
            "height": _money(p.height),
            "unit": p.dimension_unit,
        },
    }
    if p.asin:
        # Weight is not inherited for ASINs: OSA keeps its default weight, so none is sent.
        body["asin"] = p.asin
    else:
        body["weight"] = {"value": _money(p.weight), "unit": p.weight_unit}
    return body


def shipping_request_to_json(r: ShippingRequestOut) -> dict:
    return {
        "reference": r.reference,
        "order_number": r.order_number,
        "channel": "tiktok_shop",
        "shipping_method": r.shipping_method,
        "warehouse_code": r.warehouse_code,
        "managed_routing": r.managed_routing,
        "ship_to": r.ship_to,
        "requested_ship_date": r.requested_ship_date.isoformat() if r.requested_ship_date else None,
        "notes": r.notes,
        "lines": [
            {
                "line_ref": line.line_ref,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": str(line.unit_price),
                "product": product_to_json(line.product),
            }
            for line in r.lines
        ],
    }


def ship_to_from_address(address: dict) -> dict:
    """Switchyard's stored channel address → OSA ship_to."""
    a = address or {}
    return {
        "name": a.get("name", ""),
        "company": a.get("company", ""),
        "address1": a.get("address1") or a.get("line1", ""),
        "address2": a.get("address2") or a.get("line2", ""),
        "city": a.get("city", ""),
        "state": a.get("state") or a.get("region", ""),
        "zip": a.get("zip") or a.get("postal_code", ""),
        "country": a.get("country") or a.get("country_code", ""),
        "phone": a.get("phone", ""),
        "email": a.get("email", ""),
    }


def order_from_json(o: dict) -> RemoteOrder:
    order_id = str(o.get("id", ""))
    if not order_id or not (o.get("reference") or o.get("number")):
        raise PayloadError("order without id, or without both reference and number", external_id=order_id, field="id")
    status = str(o.get("status", ""))
    if status not in ORDER_STATUSES:
        raise PayloadError(f"unknown OSA order status {status!r}", external_id=order_id, field="status")
    return RemoteOrder(
        order_id=order_id,
        reference=str(o.get("reference") or ""),
        number=str(o.get("number", "")),
        status=status,
        warehouse_code=str(o.get("warehouse_code") or ""),
        cancel_reason=str(o.get("cancel_reason") or ""),
        created_at=_dt(o.get("created_at"), external_id=order_id, field_name="created_at"),
        updated_at=_dt(o.get("updated_at"), external_id=order_id, field_name="updated_at"),
    )


def shipment_from_json(s: dict) -> RemoteShipment:
    sid = str(s.get("id", ""))
    if not sid:
        raise PayloadError("shipment without id", field="id")
    tracking = s.get("tracking_numbers") or []
    if not isinstance(tracking, list):
        raise PayloadError("tracking_numbers is not a list", external_id=sid, field="tracking_numbers")
    return RemoteShipment(
        shipment_id=sid,
        order_id=str(s.get("order_id", "")),
        order_number=str(s.get("order_number", "")),
        reference=str(s.get("order_reference") or ""),
        carrier=str(s.get("carrier") or ""),
        service=str(s.get("service") or ""),
        tracking_numbers=tuple(str(t) for t in tracking),
        tracking_url=str(s.get("tracking_url") or ""),
        shipped_at=_dt(s.get("shipped_at"), external_id=sid, field_name="shipped_at"),
        updated_at=_dt(s.get("updated_at"), external_id=sid, field_name="updated_at"),
        lines=_lines(s.get("lines"), external_id=sid),
    )


def location_from_json(loc: dict) -> RemoteLocation:
    code = str(loc.get("code", ""))
    if not code:
        raise PayloadError("location without code", field="code")
    kind = str(loc.get("type", ""))
    if kind not in (LOC_WAREHOUSE, LOC_MANAGED):
        raise PayloadError(f"unknown location type {kind!r}", external_id=code, field="type")
    return RemoteLocation(
        code=code,
        name=str(loc.get("name") or code),
        type=kind,
        address=loc.get("address") or {},
        is_default=bool(loc.get("is_default")),
    )


def inventory_from_json(i: dict) -> RemoteInventory:
    sku = sku_normalize(i.get("sku"))
    key = f"{sku}@{i.get('location_code', '')}"
    if not sku or not i.get("location_code"):
        raise PayloadError("inventory row without sku or location_code", external_id=key, field="sku")
    on_hand = i.get("on_hand")
    return RemoteInventory(
        sku=sku,
        location_code=str(i["location_code"]),
        location_type=str(i.get("location_type") or ""),
        fulfillable=max(0, _qty(i.get("fulfillable"), external_id=key, field_name="fulfillable")),
        on_hand=None if on_hand is None else _qty(on_hand, external_id=key, field_name="on_hand"),
    )


def rma_to_json(r: RmaOut) -> dict:
    return {
        "reference": r.reference,
        "order_reference": r.order_reference,
        "warehouse_code": r.warehouse_code,
        "reason": r.reason,
        "tracking_number": r.tracking_number or None,
        "lines": [{"sku": line.sku, "quantity": line.quantity, "requested_action": line.requested_action} for line in r.lines],
    }


def return_from_json(r: dict) -> RemoteReturn:
    rid = str(r.get("id", ""))
    if not rid or not r.get("reference"):
        raise PayloadError("return without id or reference", external_id=rid, field="id")
    return RemoteReturn(
        rma_id=rid,
        reference=str(r["reference"]),
        order_reference=str(r.get("order_reference") or ""),
        status=str(r.get("status") or ""),
        tracking_number=str(r.get("tracking_number") or ""),
        created_at=_dt(r.get("created_at"), external_id=rid, field_name="created_at"),
        updated_at=_dt(r.get("updated_at"), external_id=rid, field_name="updated_at"),
        lines=_lines(
            [{"sku": line.get("sku"), "quantity": line.get("received_quantity", 0)} for line in r.get("lines") or []],
            external_id=rid,
        ),
    )


def arrival_to_json(a: ArrivalOut) -> dict:
    return {
        "reference": a.reference,
        "type": a.type,
        "warehouse_code": a.warehouse_code,
        "expected_at": a.expected_at.isoformat() if a.expected_at else None,
        "lines": [{"sku": line.sku, "quantity": line.quantity} for line in a.lines],
    }


def receipt_from_json(r: dict) -> RemoteReceipt:
    rid = str(r.get("id", ""))
    if not rid:
        raise PayloadError("receipt without id", field="id")
    return RemoteReceipt(
        receipt_id=rid,
        arrival_id=str(r.get("arrival_id") or ""),
        arrival_reference=str(r.get("arrival_reference") or ""),
        warehouse_code=str(r.get("warehouse_code") or ""),
        received_at=_dt(r.get("received_at"), external_id=rid, field_name="received_at"),
        updated_at=_dt(r.get("updated_at"), external_id=rid, field_name="updated_at"),
        lines=_lines(r.get("lines"), external_id=rid),
    )


RETURN_STATUS_MAP = {"awaiting_arrival": "requested", "received": "received", "processed": "completed", "canceled": "canceled"}
