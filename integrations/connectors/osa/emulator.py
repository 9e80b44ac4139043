"""OSA emulator: implements the assumed v1 contract (README.md) on the Emu* models. Served at
/integrations/osa/sandbox/api/v1/ when SANDBOX_ENABLED. Time moves lazily: each read first advances
orders whose delays have passed (Waiting → Success → Shipped), so no background worker is needed.

Demo / test helpers (all keyword-only): emulator_seed, emulator_set_stock, emulator_cancel_order,
emulator_receive_arrival, emulator_receive_return, emulator_advance."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from integrations.connectors.osa import adapter as wire
from integrations.connectors.osa.models import (
    EmuAccount,
    EmuArrival,
    EmuLocation,
    EmuOrder,
    EmuProduct,
    EmuReceipt,
    EmuReturn,
    EmuShipment,
    EmuStock,
)

CARRIERS = {"express": ("UPS", "2nd Day Air"), "standard": ("USPS", "Ground Advantage")}


class EmuError(Exception):
    def __init__(self, status: int, code: str, message: str, *, retry_after: int | None = None, extra: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after, self.extra = status, code, message, retry_after, extra or {}

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message, **self.extra}}


# --- seeding and demo knobs -----------------------------------------------------------------


def emulator_seed(
    *,
    domain: str,
    api_key: str = "demo-key",
    api_secret: str = "demo-secret",
    store_id: str = "1042",
    skus: list[str] | None = None,
    locations: list[dict] | None = None,
    quantity: int = 25,
    accept_delay_seconds: int = 5,
    ship_delay_seconds: int = 10,
    rate_limit_per_minute: int = 600,
    name: str = "",
) -> EmuAccount:
    """Create or reset an emulated OSA account. `locations`: [{"code", "name", "type": warehouse|managed}];
    default two locations. Each SKU gets `quantity` on hand at each location. Idempotent."""
    account, _ = EmuAccount.objects.update_or_create(
        domain=domain,
        defaults=dict(
            api_key=api_key,
            api_secret=api_secret,
            store_id=store_id,
            name=name or f"OSA {domain}",
            accept_delay_seconds=accept_delay_seconds,
            ship_delay_seconds=ship_delay_seconds,
            rate_limit_per_minute=rate_limit_per_minute,
        ),
    )
    locations = (
        locations
        if locations is not None
        else [
            {"code": "OSA-NJ", "name": "OSA New Jersey", "type": wire.LOC_WAREHOUSE, "is_default": True},
            {"code": "OSA-MANAGED", "name": "OSA managed network", "type": wire.LOC_MANAGED},
        ]
    )
    for loc in locations:
        EmuLocation.objects.update_or_create(
            account=account,
            code=loc["code"],
            defaults=dict(
                name=loc.get("name", loc["code"]),
                type=loc.get("type", wire.LOC_WAREHOUSE),
                address=loc.get("address", {}),
                is_default=bool(loc.get("is_default")),
            ),
        )
    for sku in skus or []:
        EmuProduct.objects.get_or_create(
            account=account, sku=sku, defaults={"data": {"sku": sku, "name": sku, "inventory_type": "standard"}}
        )
        for loc in locations:
            EmuStock.objects.update_or_create(account=account, sku=sku, location_code=loc["code"], defaults={"on_hand": quantity})
    return account


def emulator_set_stock(*, domain: str, sku: str, location_code: str, on_hand: int, committed: int = 0) -> None:
    account = EmuAccount.objects.get(domain=domain)
    EmuStock.objects.update_or_create(
        account=account, sku=sku, location_code=location_code, defaults={"on_hand": on_hand, "committed": committed}
    )


def emulator_cancel_order(*, domain: str, reference: str, reason: str = "Canceled by OSA") -> EmuOrder:
    """A cancellation decided on the OSA side (e.g. stock damaged)."""
    order = EmuOrder.objects.get(account__domain=domain, reference=reference)
    order.status, order.cancel_reason, order.updated_at = wire.CANCELED, reason, timezone.now()
    order.save(update_fields=["status", "cancel_reason", "updated_at"])
    return order


def emulator_receive_arrival(*, domain: str, reference: str, quantities: dict[str, int] | None = None) -> EmuReceipt:
    """OSA physically receives (part of) an arrival: a receipt, and stock added to the warehouse."""
    arrival = EmuArrival.objects.get(account__domain=domain, reference=reference)
    account = arrival.account
    quantities = quantities or {line["sku"]: int(line["quantity"]) for line in arrival.payload.get("lines", [])}
    now = timezone.now()
    receipt = EmuReceipt.objects.create(
        account=account,
        osa_id=_next_id(account, "RCV"),
        arrival=arrival,
        received_at=now,
        updated_at=now,
        lines=[{"sku": s, "quantity": q} for s, q in quantities.items()],
    )
    code = arrival.payload.get("warehouse_code") or ""
    for sku, qty in quantities.items():
        stock, _ = EmuStock.objects.get_or_create(account=account, sku=sku, location_code=code)
        EmuStock.objects.filter(pk=stock.pk).update(on_hand=F("on_hand") + qty)
    arrival.status = "received"
    arrival.save(update_fields=["status"])
    return receipt


def emulator_receive_return(
    *, domain: str, reference: str, quantities: dict[str, int] | None = None, status: str = "received"
) -> EmuReturn:
    ret = EmuReturn.objects.get(account__domain=domain, reference=reference)
    ret.received = quantities or {line["sku"]: int(line["quantity"]) for line in ret.payload.get("lines", [])}
    ret.status, ret.updated_at = status, timezone.now()
    ret.save(update_fields=["received", "status", "updated_at"])
    return ret


def emulator_advance(*, account: EmuAccount, now: datetime | None = None) -> None:
    """Move orders along their delays: Waiting → Success after accept delay, → Shipped after ship delay.
    Safe under concurrency: each shipment is created only by the request that wins a compare-and-set on the
    order's (status, updated_at), so two overlapping advances never ship the same units twice."""
    now = now or timezone.now()
    accept_before = now - timedelta(seconds=account.accept_delay_seconds)
    ship_before = now - timedelta(seconds=account.accept_delay_seconds + account.ship_delay_seconds)
    EmuOrder.objects.filter(account=account, status=wire.WAITING, stuck_waiting=False, created_at__lte=accept_before).update(
        status=wire.SUCCESS, updated_at=now
    )
    for order in EmuOrder.objects.filter(
        account=account, status__in=[wire.SUCCESS, wire.PARTIALLY_SHIPPED], created_at__lte=ship_before
    ):
        _ship(order, now=now)


def _ship(order: EmuOrder, *, now: datetime) -> EmuShipment | None:
    """Ship what remains of `order` (a snapshot that may be stale). Returns the shipment, or None when nothing
    remains or another request advanced the order first (its status/updated_at no longer match the snapshot)."""
    with transaction.atomic():
        shipped: dict[str, int] = {}
        for shipment in EmuShipment.objects.filter(order=order):
            for line in shipment.lines:
                shipped[line["sku"]] = shipped.get(line["sku"], 0) + int(line["quantity"])
        remaining = {line["sku"]: int(line["quantity"]) - shipped.get(line["sku"], 0) for line in order.payload.get("lines", [])}
        remaining = {s: q for s, q in remaining.items() if q > 0}
        if not remaining:
            return None
        partial = order.partial_first and not shipped and sum(remaining.values()) > 1
        if partial:  # ship one unit of the first line now, the rest on the next advance
            first = next(iter(remaining))
            to_ship = {first: 1}
        else:
            to_ship = remaining
        new_status = wire.PARTIALLY_SHIPPED if partial else wire.SHIPPED
        # Compare-and-set: only the request that still sees the snapshot's state moves the order (and ships).
        won = EmuOrder.objects.filter(pk=order.pk, status=order.status, updated_at=order.updated_at).update(
            status=new_status, updated_at=now
        )
        if not won:
            return None
        method = (order.shipping_method or "standard").lower()
        carrier, service = CARRIERS.get("express" if "express" in method or "2" in method else "standard")
        account = order.account
        seq = _next_id(account, "SHP")
        shipment = EmuShipment.objects.create(
            account=account,
            osa_id=seq,
            order=order,
            carrier=carrier,
            service=service,
            tracking_number=f"1Z{account.store_id}{seq[-6:]}",
            shipped_at=now,
            updated_at=now,
            lines=[{"sku": s, "quantity": q} for s, q in to_ship.items()],
        )
        for sku, qty in to_ship.items():
            EmuStock.objects.filter(account=account, sku=sku, location_code=order.warehouse_code).update(
                on_hand=F("on_hand") - qty, committed=F("committed") - qty
            )
    order.status, order.updated_at = new_status, now
    return shipment


def _next_id(account: EmuAccount, prefix: str) -> str:
    EmuAccount.objects.filter(pk=account.pk).update(sequence=F("sequence") + 1)
    account.refresh_from_db(fields=["sequence"])
    return f"{prefix}-{account.sequence:06d}"


# --- request handling -----------------------------------------------------------------------


def emulator_authenticate(*, authorization: str, domain: str) -> EmuAccount:
    account = EmuAccount.objects.filter(domain=domain).first() if domain else None
    if account is None:
        raise EmuError(403, "unknown_domain", f"OSA domain {domain!r} is not known in this environment.")
    try:
        scheme, encoded = authorization.split(" ", 1)
        key, secret = base64.b64decode(encoded).decode().split(":", 1)
    except (ValueError, UnicodeDecodeError):
        raise EmuError(401, "invalid_credentials", "Missing or malformed Basic credentials.") from None
    if scheme.lower() != "basic" or key != account.api_key or secret != account.api_secret:
        raise EmuError(401, "invalid_credentials", "API Key or API Secret is wrong.")
    return account


def emulator_rate_limit(*, account: EmuAccount, now: datetime | None = None) -> None:
    """Fixed one-minute window per domain; 429 with Retry-After past the limit."""
    now = now or timezone.now()
    if now - account.window_started_at >= timedelta(minutes=1):
        EmuAccount.objects.filter(pk=account.pk).update(window_started_at=now, window_count=1)
        return
    EmuAccount.objects.filter(pk=account.pk).update(window_count=F("window_count") + 1)
    account.refresh_from_db(fields=["window_count"])
    if account.window_count > account.rate_limit_per_minute:
        retry = max(1, 60 - int((now - account.window_started_at).total_seconds()))
        raise EmuError(429, "rate_limited", "Too many requests.", retry_after=retry)


# Paging hazard, on demand (tests, demos): right after a given page of a list is served, one record is updated
# (updated_at = now), so it moves to the end of the updated_at order while the client is still paging: with
# page numbers the next record then slides onto the page already read. One-shot.
_UPDATE_WHILE_PAGING: list[dict] = []


def emulator_update_while_paging(*, kind: str, osa_id: str, after_page: int = 1) -> None:
    """kind: shipments | orders | returns | receipts."""
    _UPDATE_WHILE_PAGING.append({"kind": kind, "osa_id": osa_id, "after_page": after_page})


def _after_page(kind: str, params) -> None:
    try:
        page = int(params.get("page", 1) or 1)
    except ValueError:
        return
    models = {"shipments": EmuShipment, "orders": EmuOrder, "returns": EmuReturn, "receipts": EmuReceipt}
    for item in [i for i in _UPDATE_WHILE_PAGING if i["kind"] == kind and i["after_page"] == page]:
        _UPDATE_WHILE_PAGING.remove(item)
        models[kind].objects.filter(osa_id=item["osa_id"]).update(updated_at=timezone.now())


def _paginate(qs, params) -> tuple[list, int | None]:
    try:
        page = max(1, int(params.get("page", 1)))
        per_page = min(wire.PER_PAGE, max(1, int(params.get("per_page", wire.PER_PAGE))))
    except ValueError:
        raise EmuError(400, "validation_error", "page and per_page must be integers.") from None
    rows = list(qs[(page - 1) * per_page : page * per_page + 1])
    return rows[:per_page], (page + 1 if len(rows) > per_page else None)


def _since(params):
    raw = params.get("updated_since")
    if not raw:
        return None
    from django.utils.dateparse import parse_datetime

    parsed = parse_datetime(raw)
    if parsed is None:
        raise EmuError(400, "validation_error", "updated_since must be ISO-8601.")
    return parsed


def _iso(dt) -> str | None:
    return dt.isoformat() if dt else None


def order_json(order: EmuOrder) -> dict:
    return {
        "id": order.osa_id,
        "reference": order.reference,
        "number": order.number,
        "status": order.status,
        "warehouse_code": order.warehouse_code or None,
        "shipping_method": order.shipping_method,
        "cancel_reason": order.cancel_reason or None,
        "created_at": _iso(order.created_at),
        "updated_at": _iso(order.updated_at),
    }


def account_get(*, account: EmuAccount, params) -> dict:
    return {"domain": account.domain, "name": account.name, "store_id": account.store_id, "contract": wire.CONTRACT_VERSION}


@transaction.atomic
def order_create(*, account: EmuAccount, body: dict) -> tuple[int, dict]:
    reference = str(body.get("reference") or "")
    if not reference or not body.get("lines"):
        raise EmuError(422, "validation_error", "reference and lines are required.")
    existing = EmuOrder.objects.filter(account=account, reference=reference).first()
    if existing:
        raise EmuError(
            409, wire.ERR_DUPLICATE_REFERENCE, f"An order with reference {reference} exists.", extra={"order_id": existing.osa_id}
        )
    method = str(body.get("shipping_method") or "")
    if not method:
        raise EmuError(422, wire.ERR_INVALID_SHIPPING_METHOD, "shipping_method is required.")
    known = set(EmuProduct.objects.filter(account=account).values_list("sku", flat=True))
    for line in body["lines"]:
        sku = line.get("sku")
        product = line.get("product") or {}
        if sku not in known:
            raise EmuError(
                422,
                wire.ERR_UNKNOWN_SKU,
                f"OSA does not recognize the product {sku}.",
                extra={"details": [{"field": "sku", "value": sku}]},
            )
        stored = EmuProduct.objects.get(account=account, sku=sku).data
        if (
            stored.get("asin")
            and product.get("weight")
            and product["weight"].get("value") not in (None, stored.get("weight", {}).get("value"))
        ):
            raise EmuError(
                422, wire.ERR_ASIN_WEIGHT, f"Weight modified on ASIN {stored['asin']} ({sku}); OSA uses default weights only."
            )
    warehouse = body.get("warehouse_code") or ""
    codes = set(EmuLocation.objects.filter(account=account).values_list("code", flat=True))
    if warehouse and warehouse not in codes:
        raise EmuError(422, "unknown_warehouse", f"Warehouse {warehouse} is not one of this account's locations.")
    if not warehouse:  # OSA managed routing: the location with most stock of the first SKU
        first = body["lines"][0]["sku"]
        best = EmuStock.objects.filter(account=account, sku=first, location_code__in=codes).order_by("-on_hand").first()
        warehouse = best.location_code if best else (sorted(codes)[0] if codes else "")
    now = timezone.now()
    order = EmuOrder.objects.create(
        account=account,
        osa_id=_next_id(account, "OSA"),
        reference=reference,
        number=f"{account.store_id}-{reference}",
        warehouse_code=warehouse,
        shipping_method=method,
        payload=body,
        created_at=now,
        updated_at=now,
    )
    for line in body["lines"]:
        EmuStock.objects.filter(account=account, sku=line["sku"], location_code=warehouse).update(
            committed=F("committed") + int(line["quantity"])
        )
    return 201, {"order": order_json(order)}


def orders_list(*, account: EmuAccount, params) -> dict:
    emulator_advance(account=account)
    as_of = timezone.now()
    qs = EmuOrder.objects.filter(account=account).order_by("updated_at", "id")
    if params.get("reference"):
        qs = qs.filter(reference=params["reference"])
    if params.get("status"):
        qs = qs.filter(status=params["status"])
    since = _since(params)
    if since:
        qs = qs.filter(updated_at__gte=since)
    rows, next_page = _paginate(qs, params)
    _after_page("orders", params)
    return {"orders": [order_json(o) for o in rows], "next_page": next_page, "as_of": _iso(as_of)}


@transaction.atomic
def order_cancel(*, account: EmuAccount, order_id: str, body: dict) -> tuple[int, dict]:
    emulator_advance(account=account)
    order = EmuOrder.objects.filter(account=account, osa_id=order_id).first()
    if order is None:
        raise EmuError(404, wire.ERR_NOT_FOUND, f"Order {order_id} not found.")
    if order.status in (wire.SHIPPED, wire.PARTIALLY_SHIPPED):
        raise EmuError(409, wire.ERR_ALREADY_SHIPPED, f"Order {order_id} has already shipped.")
    if order.status != wire.CANCELED:
        order.status, order.cancel_reason, order.updated_at = (
            wire.CANCELED,
            str(body.get("reason") or "canceled by client"),
            timezone.now(),
        )
        order.save(update_fields=["status", "cancel_reason", "updated_at"])
        for line in order.payload.get("lines", []):
            EmuStock.objects.filter(account=account, sku=line["sku"], location_code=order.warehouse_code).update(
                committed=F("committed") - int(line["quantity"])
            )
    return 200, {"order": order_json(order)}


def shipments_list(*, account: EmuAccount, params) -> dict:
    emulator_advance(account=account)
    as_of = timezone.now()
    qs = EmuShipment.objects.filter(account=account).select_related("order").order_by("updated_at", "id")
    since = _since(params)
    if since:
        qs = qs.filter(updated_at__gte=since)
    rows, next_page = _paginate(qs, params)
    _after_page("shipments", params)
    return {
        "shipments": [
            {
                "id": s.osa_id,
                "order_id": s.order.osa_id,
                "order_number": s.order.number,
                "order_reference": s.order.reference,
                "carrier": s.carrier,
                "service": s.service,
                "tracking_numbers": [s.tracking_number],
                "tracking_url": f"https://track.example/{s.tracking_number}",
                "shipped_at": _iso(s.shipped_at),
                "updated_at": _iso(s.updated_at),
                "lines": s.lines,
            }
            for s in rows
        ],
        "next_page": next_page,
        "as_of": _iso(as_of),
    }


def inventory_list(*, account: EmuAccount, params) -> dict:
    emulator_advance(account=account)
    types = dict(EmuLocation.objects.filter(account=account).values_list("code", "type"))
    qs = EmuStock.objects.filter(account=account).order_by("sku", "location_code")
    rows, next_page = _paginate(qs, params)
    now = timezone.now()
    return {
        "inventory": [
            {
                "sku": s.sku,
                "location_code": s.location_code,
                "location_type": types.get(s.location_code, wire.LOC_WAREHOUSE),
                "fulfillable": max(0, s.on_hand - s.committed),
                "on_hand": s.on_hand,
                "as_of": _iso(now),
            }
            for s in rows
        ],
        "next_page": next_page,
    }


def locations_list(*, account: EmuAccount, params) -> dict:
    return {
        "locations": [
            {"code": loc.code, "name": loc.name, "type": loc.type, "address": loc.address, "is_default": loc.is_default}
            for loc in EmuLocation.objects.filter(account=account).order_by("code")
        ]
    }


def _validate_product(body: dict) -> None:
    if not body.get("sku") or not body.get("name"):
        raise EmuError(422, "validation_error", "sku and name are required.")
    if body.get("inventory_type", "standard") not in wire.INVENTORY_TYPES:
        raise EmuError(
            422,
            wire.ERR_INVALID_INVENTORY_TYPE,
            f"inventory_type {body.get('inventory_type')!r} is not one of OSA's predefined values.",
        )


def product_create(*, account: EmuAccount, body: dict) -> tuple[int, dict]:
    _validate_product(body)
    if EmuProduct.objects.filter(account=account, sku=body["sku"]).exists():
        raise EmuError(409, wire.ERR_DUPLICATE_SKU, f"Product {body['sku']} exists.")
    EmuProduct.objects.create(account=account, sku=body["sku"], data=body)
    return 201, {"product": body}


def product_update(*, account: EmuAccount, sku: str, body: dict) -> tuple[int, dict]:
    _validate_product({**body, "sku": sku})
    updated = EmuProduct.objects.filter(account=account, sku=sku).update(data={**body, "sku": sku}, updated_at=timezone.now())
    if not updated:
        raise EmuError(404, wire.ERR_NOT_FOUND, f"Product {sku} not found.")
    return 200, {"product": {**body, "sku": sku}}


def products_list(*, account: EmuAccount, params) -> dict:
    qs = EmuProduct.objects.filter(account=account).order_by("sku")
    if params.get("sku"):
        qs = qs.filter(sku=params["sku"])
    rows, next_page = _paginate(qs, params)
    return {"products": [p.data for p in rows], "next_page": next_page}


def return_create(*, account: EmuAccount, body: dict) -> tuple[int, dict]:
    reference = str(body.get("reference") or "")
    if not reference or not body.get("lines"):
        raise EmuError(422, "validation_error", "reference and lines are required.")
    existing = EmuReturn.objects.filter(account=account, reference=reference).first()
    if existing:
        raise EmuError(409, wire.ERR_DUPLICATE_REFERENCE, f"RMA {reference} exists.", extra={"id": existing.osa_id})
    ret = EmuReturn.objects.create(account=account, osa_id=_next_id(account, "RMA"), reference=reference, payload=body)
    return 201, {"return": _return_json(ret)}


def _return_json(r: EmuReturn) -> dict:
    return {
        "id": r.osa_id,
        "reference": r.reference,
        "order_reference": r.payload.get("order_reference"),
        "status": r.status,
        "tracking_number": r.payload.get("tracking_number"),
        "created_at": _iso(r.created_at),
        "updated_at": _iso(r.updated_at),
        "lines": [
            {"sku": line["sku"], "quantity": line["quantity"], "received_quantity": int(r.received.get(line["sku"], 0))}
            for line in r.payload.get("lines", [])
        ],
    }


def returns_list(*, account: EmuAccount, params) -> dict:
    as_of = timezone.now()
    qs = EmuReturn.objects.filter(account=account).order_by("updated_at", "id")
    since = _since(params)
    if since:
        qs = qs.filter(updated_at__gte=since)
    rows, next_page = _paginate(qs, params)
    _after_page("returns", params)
    return {"returns": [_return_json(r) for r in rows], "next_page": next_page, "as_of": _iso(as_of)}


def arrival_create(*, account: EmuAccount, body: dict) -> tuple[int, dict]:
    reference = str(body.get("reference") or "")
    if not reference or not body.get("lines") or not body.get("warehouse_code"):
        raise EmuError(422, "validation_error", "reference, warehouse_code and lines are required.")
    existing = EmuArrival.objects.filter(account=account, reference=reference).first()
    if existing:
        raise EmuError(409, wire.ERR_DUPLICATE_REFERENCE, f"Arrival {reference} exists.", extra={"id": existing.osa_id})
    arrival = EmuArrival.objects.create(account=account, osa_id=_next_id(account, "ASN"), reference=reference, payload=body)
    return 201, {"arrival": {"id": arrival.osa_id, "reference": reference, "status": arrival.status}}


def receipts_list(*, account: EmuAccount, params) -> dict:
    as_of = timezone.now()
    qs = EmuReceipt.objects.filter(account=account).select_related("arrival").order_by("updated_at", "id")
    since = _since(params)
    if since:
        qs = qs.filter(updated_at__gte=since)
    rows, next_page = _paginate(qs, params)
    _after_page("receipts", params)
    return {
        "receipts": [
            {
                "id": r.osa_id,
                "arrival_id": r.arrival.osa_id,
                "arrival_reference": r.arrival.reference,
                "warehouse_code": r.arrival.payload.get("warehouse_code"),
                "received_at": _iso(r.received_at),
                "updated_at": _iso(r.updated_at),
                "lines": r.lines,
            }
            for r in rows
        ],
        "next_page": next_page,
        "as_of": _iso(as_of),
    }
