"""Katana emulator (sandbox): the documented public API on the EmuObject store, served at
/integrations/katana/sandbox/v1/ when SANDBOX_ENABLED — bearer key (or OAuth access token), `{"data": [...]}` lists
with `X-Pagination` (values as strings, as the community spec reports), 422 on unknown body fields, 60 requests per
60 s per account with 429 + Retry-After, OAuth authorize/token with rotating refresh tokens, and sales-order webhooks
signed `x-sha2-signature` = hex HMAC-SHA256(token, body).

Time moves lazily: each request first delivers the account's NOT_SHIPPED sales orders older than
`deliver_after_seconds` (a fulfillment with tracking, stock shipped). Operator helpers (keyword-only):
emulator_seed, emulator_set_stock, emulator_deliver, emulator_advance."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
from datetime import datetime, timedelta
from decimal import Decimal

import requests
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from integrations.connectors.katana.models import EmuAccount, EmuObject

logger = logging.getLogger(__name__)
MAX_LIMIT, DEFAULT_LIMIT = 250, 50
TOKEN_TTL = timedelta(hours=1)

SO_FIELDS = {"order_no", "customer_id", "sales_order_rows", "location_id", "status", "currency", "order_created_date",
             "delivery_date", "customer_ref", "additional_info", "ecommerce_order_id", "ecommerce_order_type",
             "ecommerce_store_name", "tracking_number", "tracking_number_url", "addresses", "custom_fields"}
ROW_FIELDS = {"variant_id", "quantity", "price_per_unit", "tax_rate_id", "location_id", "total_discount", "attributes",
              "custom_fields"}
ADDRESS_FIELDS = {"entity_type", "first_name", "last_name", "company", "phone", "line_1", "line_2", "city", "state", "zip",
                  "country"}
PATCH_FIELDS = {"status", "order_no", "customer_id", "location_id", "currency", "delivery_date", "picked_date",
                "customer_ref", "additional_info", "tracking_number", "tracking_number_url"}
CUSTOMER_FIELDS = {"name", "first_name", "last_name", "company", "email", "phone", "currency", "category", "reference_id",
                   "discount_rate", "comment", "addresses"}
FEE_FIELDS = {"sales_order_id", "amount", "description", "tax_rate_id"}
CARRIERS = (("Royal Mail", "Tracked 48"), ("DPD UK", "Next day"))


class EmuError(Exception):
    def __init__(self, status: int, name: str, message: str, *, details: list | None = None, retry_after: int | None = None):
        super().__init__(message)
        self.status, self.name, self.message, self.details, self.retry_after = status, name, message, details, retry_after

    def body(self) -> dict:
        body = {"statusCode": self.status, "name": self.name, "message": self.message}
        if self.details is not None:
            body.update(code="VALIDATION_FAILED", details=self.details)
        return body


def _invalid(details: list) -> EmuError:
    return EmuError(422, "UnprocessableEntityError", "The request body is invalid. See error object `details` property "
                    "for more info.", details=details)


def _check_fields(body: dict, allowed: set, prefix: str = "") -> list:
    return [{"path": f"{prefix}.{k}", "code": "additionalProperties", "message": f"must NOT have additional property {k!r}",
             "info": {"additionalProperty": k}} for k in body if k not in allowed]


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


# --- seeding and operator knobs -----------------------------------------------------------------------------------

def emulator_seed(*, name: str, api_key: str, variants: list[dict] | None = None, locations: list[dict] | None = None,
                  quantity: int = 25, deliver_after_seconds: int = 0, rate_limit: int = 60, oauth_client_id: str = "",
                  oauth_client_secret: str = "") -> EmuAccount:
    """Create or reset an emulated account. variants: [{"sku", "name", "price"}]; locations: [{"name"}] (default
    one "Main warehouse"); each variant gets `quantity` in stock at each location. Idempotent on `name`."""
    account, _ = EmuAccount.objects.update_or_create(name=name, defaults=dict(
        api_key=api_key, deliver_after_seconds=deliver_after_seconds, rate_limit=rate_limit,
        oauth_client_id=oauth_client_id, oauth_client_secret=oauth_client_secret))
    now = timezone.now()
    for i, loc in enumerate(locations or [{"name": "Main warehouse"}]):
        lid = 1 + i
        EmuObject.objects.update_or_create(account=account, kind="location", key=str(lid), defaults={"data": {
            "id": lid, "name": loc["name"], "legal_name": loc["name"], "is_primary": i == 0, "sales_allowed": True,
            "manufacturing_allowed": True, "purchase_allowed": True, "address": loc.get("address", {})}})
    location_ids = [int(k) for k in account.emu_objects.filter(kind="location").values_list("key", flat=True)]
    for v in variants or []:
        existing = _find(account, "variant", sku=v["sku"])
        vid = existing.data["id"] if existing else _next_id(account)
        pid = existing.data["product_id"] if existing else _next_id(account)
        EmuObject.objects.update_or_create(account=account, kind="variant", key=str(vid), defaults={"updated_at": now, "data": {
            "id": vid, "sku": v["sku"], "product_id": pid, "type": "product", "sales_price": str(v.get("price", "10.00")),
            "internal_barcode": v.get("barcode", ""), "config_attributes": v.get("attributes", []),
            "product_or_material": {"id": pid, "name": v.get("name", v["sku"])}, "updated_at": _iso(now)}})
        for lid in location_ids:
            emulator_set_stock(account=account, sku=v["sku"], location_id=lid, in_stock=quantity)
    return account


def _next_id(account: EmuAccount) -> int:
    EmuAccount.objects.filter(pk=account.pk).update(sequence=F("sequence") + 1)
    return EmuAccount.objects.values_list("sequence", flat=True).get(pk=account.pk)


def _find(account: EmuAccount, kind: str, **data) -> EmuObject | None:
    for obj in account.emu_objects.filter(kind=kind):
        if all(obj.data.get(k) == v for k, v in data.items()):
            return obj
    return None


def _stock(account: EmuAccount, variant_id: int, location_id: int) -> EmuObject:
    obj, _ = EmuObject.objects.get_or_create(account=account, kind="inventory", key=f"{location_id}|{variant_id}", defaults={
        "data": {"variant_id": variant_id, "location_id": location_id, "in_stock": 0, "committed": 0}})
    return obj


def emulator_set_stock(*, account: EmuAccount, sku: str, location_id: int, in_stock: int) -> None:
    variant = _find(account, "variant", sku=sku)
    if variant is None:
        raise ValueError(f"no emulated variant {sku}")
    obj = _stock(account, variant.data["id"], location_id)
    obj.data = {**obj.data, "in_stock": int(in_stock)}
    obj.updated_at = timezone.now()
    obj.save()
    _inventory_webhook(account, variant.data["id"])


def _add_stock(account: EmuAccount, variant_id: int, location_id: int, *, in_stock: int = 0, committed: int = 0) -> None:
    obj = _stock(account, variant_id, location_id)
    obj.data = {**obj.data, "in_stock": obj.data["in_stock"] + in_stock, "committed": max(0, obj.data["committed"] + committed)}
    obj.updated_at = timezone.now()
    obj.save()
    _inventory_webhook(account, variant_id)


def _default_location(account: EmuAccount) -> int:
    keys = sorted(int(k) for k in account.emu_objects.filter(kind="location").values_list("key", flat=True))
    return keys[0] if keys else 1


def emulator_deliver(*, account: EmuAccount, sales_order_id: int, quantities: dict[int, int] | None = None,
                     tracking_number: str = "", now: datetime | None = None) -> dict:
    """Deliver a sales order (all remaining units, or `quantities` per sales_order_row_id: a partial delivery) with
    tracking: a DELIVERED fulfillment, stock shipped, status DELIVERED or PARTIALLY_DELIVERED; webhooks fire."""
    now = now or timezone.now()
    with transaction.atomic():
        so_obj = EmuObject.objects.select_for_update().get(account=account, kind="sales_order", key=str(sales_order_id))
        so = so_obj.data
        delivered = {int(k): v for k, v in (so.get("_delivered") or {}).items()}
        rows = []
        for row in so["sales_order_rows"]:
            left = row["quantity"] - delivered.get(row["id"], 0)
            q = left if quantities is None else min(left, int(quantities.get(row["id"], 0)))
            if q > 0:
                rows.append({"sales_order_row_id": row["id"], "quantity": q})
                delivered[row["id"]] = delivered.get(row["id"], 0) + q
                _add_stock(account, row["variant_id"], row.get("location_id") or so.get("location_id") or 1,
                           in_stock=-q, committed=-q)
        if not rows:
            return so
        fid = _next_id(account)
        carrier, method = CARRIERS[fid % len(CARRIERS)]
        number = tracking_number or f"KT{fid:010d}GB"
        EmuObject.objects.create(account=account, kind="fulfillment", key=str(fid), created_at=now, updated_at=now, data={
            "id": fid, "sales_order_id": so["id"], "status": "DELIVERED", "picked_date": _iso(now),
            "tracking_number": number, "tracking_url": f"https://track.example/{number}", "tracking_carrier": carrier,
            "tracking_method": method, "sales_order_fulfillment_rows": rows, "created_at": _iso(now), "updated_at": _iso(now)})
        complete = all(delivered.get(r["id"], 0) >= r["quantity"] for r in so["sales_order_rows"])
        so.update(status="DELIVERED" if complete else "PARTIALLY_DELIVERED", updated_at=_iso(now),
                  _delivered={str(k): v for k, v in delivered.items()})
        so_obj.data, so_obj.updated_at = so, now
        so_obj.save()
        _webhook(account, "sales_order.delivered", so)
        _webhook(account, "sales_order.updated", so)
    return so


def emulator_advance(*, account: EmuAccount, now: datetime | None = None) -> None:
    if not account.deliver_after_seconds:
        return
    now = now or timezone.now()
    due = now - timedelta(seconds=account.deliver_after_seconds)
    for obj in account.emu_objects.filter(kind="sales_order", deleted=False, created_at__lte=due):
        if obj.data.get("status") == "NOT_SHIPPED":
            emulator_deliver(account=account, sales_order_id=obj.data["id"], now=now)


def _webhook(account: EmuAccount, action: str, so: dict) -> None:
    obj = {"id": so["id"], "status": so.get("status", "")}
    if not action.endswith(".deleted"):
        obj["href"] = f"/v1/sales_orders/{so['id']}"
    _deliver(account, {"resource_type": "sales_order", "action": action, "webhook_id": account.pk, "object": obj})


def _inventory_webhook(account: EmuAccount, variant_id: int) -> None:
    """Stock of a variant moved (the object's id is the variant's: the connector's assumed contract, webhooks.py)."""
    _deliver(account, {"resource_type": "current_inventory", "action": "current_inventory.product_updated",
                       "webhook_id": account.pk, "object": {"id": variant_id, "href": f"/v1/inventory?variant_id={variant_id}"}})


def _deliver(account: EmuAccount, payload: dict) -> None:
    if not account.webhook_url:
        return
    body = json.dumps(payload).encode()
    signature = hmac.new(account.webhook_token.encode(), body, hashlib.sha256).hexdigest()
    url = account.webhook_url

    def send() -> None:
        try:
            requests.post(url, data=body, headers={"Content-Type": "application/json", "x-sha2-signature": signature},
                          timeout=5)
        except requests.RequestException:  # best effort, as Katana's own retries are not emulated
            logger.warning("katana_emulator.webhook_failed", extra={"account": account.pk})

    transaction.on_commit(send)


# --- authentication and limits -------------------------------------------------------------------------------------

def emulator_authenticate(*, authorization: str) -> EmuAccount:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise EmuError(401, "UnauthorizedError", "Unauthorized")
    account = EmuAccount.objects.filter(api_key=token).first()
    if account is not None:
        return account
    row = EmuObject.objects.filter(kind="access_token", key=hashlib.sha256(token.encode()).hexdigest()).select_related("account").first()
    if row is None or parse_datetime(row.data["expires_at"]) <= timezone.now() or row.deleted:
        raise EmuError(401, "UnauthorizedError", "Unauthorized")
    return row.account


def emulator_rate_limit(*, account: EmuAccount, now: datetime | None = None) -> None:
    """Fixed 60-second window per account, counted with compare-and-set updates (any process)."""
    now = now or timezone.now()
    window = timedelta(seconds=60)
    EmuAccount.objects.filter(pk=account.pk, window_started_at__lte=now - window).update(window_started_at=now, window_count=0)
    EmuAccount.objects.filter(pk=account.pk).update(window_count=F("window_count") + 1)
    count, started = EmuAccount.objects.values_list("window_count", "window_started_at").get(pk=account.pk)
    if count > account.rate_limit:
        retry = max(1, int((started + window - now).total_seconds()) + 1)
        raise EmuError(429, "TooManyRequests", "Too Many Requests", retry_after=retry)


# --- OAuth -----------------------------------------------------------------------------------------------------------

def oauth_authorize(*, params) -> str:
    """The user "logs in" at once: a single-use code for the client's account; returns the redirect URL."""
    account = EmuAccount.objects.filter(oauth_client_id=params.get("client_id", "")).first()
    if account is None:
        raise EmuError(401, "UnauthorizedError", "unknown client_id")
    if not params.get("redirect_uri"):
        raise EmuError(400, "BadRequest", "no redirect_uri")
    code = secrets.token_urlsafe(16)
    EmuObject.objects.create(account=account, kind="auth_code", key=hashlib.sha256(code.encode()).hexdigest(),
                             data={"expires_at": _iso(timezone.now() + timedelta(minutes=5))})
    sep = "&" if "?" in params["redirect_uri"] else "?"
    from urllib.parse import urlencode

    return f"{params['redirect_uri']}{sep}{urlencode({'code': code, 'state': params.get('state', '')})}"


def _issue(account: EmuAccount) -> dict:
    access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    EmuObject.objects.create(account=account, kind="access_token", key=hashlib.sha256(access.encode()).hexdigest(),
                             data={"expires_at": _iso(timezone.now() + TOKEN_TTL)})
    EmuObject.objects.create(account=account, kind="refresh_token", key=hashlib.sha256(refresh.encode()).hexdigest(), data={})
    return {"access_token": access, "refresh_token": refresh, "expires_in": int(TOKEN_TTL.total_seconds()),
            "token_type": "Bearer", "scope": "offline_access"}


def oauth_token(*, form) -> dict:
    """authorization_code or refresh_token (rotating: the refresh token used stops working; reusing it revokes)."""
    account = EmuAccount.objects.filter(oauth_client_id=form.get("client_id", "")).first()
    if account is None or not hmac.compare_digest(account.oauth_client_secret, form.get("client_secret", "")):
        raise EmuError(401, "UnauthorizedError", "invalid_client")
    grant = form.get("grant_type")
    if grant == "authorization_code":
        key = hashlib.sha256(form.get("code", "").encode()).hexdigest()
        used = EmuObject.objects.filter(account=account, kind="auth_code", key=key, deleted=False).update(deleted=True)
        if not used:
            raise EmuError(403, "invalid_grant", "invalid or used authorization code")
        return _issue(account)
    if grant == "refresh_token":
        key = hashlib.sha256(form.get("refresh_token", "").encode()).hexdigest()
        used = EmuObject.objects.filter(account=account, kind="refresh_token", key=key, deleted=False).update(deleted=True)
        if not used:
            raise EmuError(403, "invalid_grant", "invalid or reused refresh token")
        return _issue(account)
    raise EmuError(400, "unsupported_grant_type", "unsupported grant_type")


# --- the API ---------------------------------------------------------------------------------------------------------

def _listing(objs: list[dict], params) -> tuple[dict, dict]:
    try:
        limit = min(MAX_LIMIT, max(1, int(params.get("limit", DEFAULT_LIMIT))))
        page = max(1, int(params.get("page", 1)))
    except ValueError:
        raise _invalid([{"path": ".limit", "code": "type", "message": "must be integer"}]) from None
    total = len(objs)
    pages = max(1, -(-total // limit))
    chunk = objs[(page - 1) * limit: page * limit]
    header = {"total_records": str(total), "total_pages": str(pages), "offset": str((page - 1) * limit), "page": str(page),
              "first_page": str(page == 1).lower(), "last_page": str(page >= pages).lower()}
    return {"data": chunk}, {"X-Pagination": json.dumps(header)}


def _public(data: dict) -> dict:
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _updated_filter(objs, params):
    since = parse_datetime(params.get("updated_at_min", "")) if params.get("updated_at_min") else None
    return [o for o in objs if since is None or o.updated_at >= since]


def handle(*, account: EmuAccount, method: str, resource: str, params, body: dict | None) -> tuple[int, dict, dict]:
    emulator_advance(account=account)
    parts = [p for p in resource.strip("/").split("/") if p]
    name = parts[0] if parts else ""
    ident = parts[1] if len(parts) > 1 else None
    if name == "sales_orders":
        if ident is None:
            return (201, _so_create(account, body or {}), {}) if method == "POST" else (200, *_so_list(account, params))
        obj = EmuObject.objects.filter(account=account, kind="sales_order", key=ident, deleted=False).first()
        if obj is None:
            raise EmuError(404, "NotFoundError", f"Sales order {ident} not found")
        if method == "GET":
            return 200, _public(obj.data), {}
        if method == "PATCH":
            return 200, _so_patch(account, obj, body or {}), {}
        if method == "DELETE":
            _so_delete(account, obj)
            return 204, {}, {}
    if name == "sales_order_shipping_fee" and method == "POST":
        errors = _check_fields(body or {}, FEE_FIELDS)
        if errors:
            raise _invalid(errors)
        return 201, {"id": _next_id(account), **(body or {})}, {}
    if name == "sales_order_fulfillments" and method == "GET":
        objs = _updated_filter(account.emu_objects.filter(kind="fulfillment").order_by("pk"), params)
        so_id = params.get("sales_order_id")
        data = [o.data for o in objs if so_id is None or str(o.data["sales_order_id"]) == str(so_id)]
        return (200, *_listing(data, params))
    if name == "customers":
        if method == "POST":
            errors = _check_fields(body or {}, CUSTOMER_FIELDS)
            if errors or not (body or {}).get("name"):
                raise _invalid(errors or [{"path": ".name", "code": "required", "message": "must have required property 'name'"}])
            cid = _next_id(account)
            EmuObject.objects.create(account=account, kind="customer", key=str(cid), data={"id": cid, **body})
            return 201, {"id": cid, **body}, {}
        data = [o.data for o in account.emu_objects.filter(kind="customer").order_by("pk")
                if all(str(o.data.get(k, "")) == params[k] for k in ("reference_id", "name") if k in params)]
        return (200, *_listing(data, params))
    if name == "variants" and method == "GET":
        objs = _updated_filter(list(account.emu_objects.filter(kind="variant").order_by("pk")), params)
        data = [o.data for o in objs if "sku" not in params or o.data["sku"] == params["sku"]]
        return (200, *_listing(data, params))
    if name == "locations" and method == "GET":
        return (200, *_listing([o.data for o in account.emu_objects.filter(kind="location").order_by("pk")], params))
    if name == "inventory" and method == "GET":
        variants = {o.data["id"]: o.data for o in account.emu_objects.filter(kind="variant")}
        wanted = set(params.getlist("variant_id")) if hasattr(params, "getlist") else set(filter(None, [params.get("variant_id")]))
        rows = []
        for o in sorted(account.emu_objects.filter(kind="inventory"), key=lambda o: (o.data["location_id"], o.data["variant_id"])):
            d = o.data
            if params.get("location_id") and str(d["location_id"]) != params["location_id"]:
                continue
            if wanted and str(d["variant_id"]) not in wanted:
                continue
            row = {"variant_id": d["variant_id"], "location_id": d["location_id"],
                   "quantity_in_stock": f"{Decimal(d['in_stock']):.5f}", "quantity_committed": f"{Decimal(d['committed']):.5f}",
                   "quantity_expected": "0.00000", "safety_stock_level": "0.00000"}
            if "variant" in params.getlist("extend") if hasattr(params, "getlist") else params.get("extend") == "variant":
                v = variants.get(d["variant_id"], {})
                row["variant"] = {"id": d["variant_id"], "sku": v.get("sku", ""), "product_id": v.get("product_id"), "type": "product"}
            rows.append(row)
        return (200, *_listing(rows, params))
    raise EmuError(404, "NotFoundError", f"Cannot {method} /{resource}")


def _so_list(account: EmuAccount, params) -> tuple[dict, dict]:
    include_deleted = params.get("include_deleted") == "true"
    objs = [o for o in account.emu_objects.filter(kind="sales_order").order_by("pk") if include_deleted or not o.deleted]
    objs = _updated_filter(objs, params)
    for key in ("ecommerce_order_id", "order_no", "status", "customer_id"):
        if params.get(key):
            objs = [o for o in objs if str(o.data.get(key, "")) == params[key]]
    return _listing([_public(o.data) for o in objs], params)


def _so_create(account: EmuAccount, body: dict) -> dict:
    errors = _check_fields(body, SO_FIELDS)
    rows = body.get("sales_order_rows")
    if not isinstance(body.get("customer_id"), int):
        errors.append({"path": ".customer_id", "code": "required", "message": "must have required property 'customer_id'"})
    elif not account.emu_objects.filter(kind="customer", key=str(body["customer_id"])).exists():
        errors.append({"path": ".customer_id", "code": "not_found", "message": f"customer {body['customer_id']} does not exist"})
    if not isinstance(rows, list) or not rows:
        errors.append({"path": ".sales_order_rows", "code": "minItems", "message": "must NOT have fewer than 1 items"})
        rows = []
    for i, row in enumerate(rows):
        errors += _check_fields(row, ROW_FIELDS, f".sales_order_rows[{i}]")
        if not account.emu_objects.filter(kind="variant", key=str(row.get("variant_id"))).exists():
            errors.append({"path": f".sales_order_rows[{i}].variant_id", "code": "not_found",
                           "message": f"variant {row.get('variant_id')} does not exist"})
    for i, address in enumerate(body.get("addresses") or []):
        errors += _check_fields(address, ADDRESS_FIELDS, f".addresses[{i}]")
    if body.get("status", "NOT_SHIPPED") not in ("NOT_SHIPPED", "PENDING"):
        errors.append({"path": ".status", "code": "enum", "message": "must be equal to one of the allowed values"})
    if errors:
        raise _invalid(errors)
    now = timezone.now()
    so_id = _next_id(account)
    location_id = body.get("location_id") or _default_location(account)
    out_rows = []
    for row in rows:
        rid = _next_id(account)
        out_rows.append({"id": rid, "sales_order_id": so_id, **row})
        _add_stock(account, row["variant_id"], row.get("location_id") or location_id, committed=int(row["quantity"]))
    data = {"id": so_id, **{k: v for k, v in body.items() if k not in ("sales_order_rows",)}, "location_id": location_id,
            "status": body.get("status", "NOT_SHIPPED"), "source": "API", "sales_order_rows": out_rows,
            "created_at": _iso(now), "updated_at": _iso(now), "deleted_at": None}
    EmuObject.objects.create(account=account, kind="sales_order", key=str(so_id), data=data, created_at=now, updated_at=now)
    return data


def _so_patch(account: EmuAccount, obj: EmuObject, body: dict) -> dict:
    errors = _check_fields(body, PATCH_FIELDS)
    if "status" in body and body["status"] not in ("NOT_SHIPPED", "PENDING", "PACKED", "DELIVERED"):
        errors.append({"path": ".status", "code": "enum", "message": "must be equal to one of the allowed values"})
    if errors:
        raise _invalid(errors)
    if body.get("status") == "DELIVERED" and obj.data["status"] != "DELIVERED":
        emulator_deliver(account=account, sales_order_id=obj.data["id"], tracking_number="FBT")
        obj.refresh_from_db()
        body = {k: v for k, v in body.items() if k != "status"}
    now = timezone.now()
    obj.data = {**obj.data, **body, "updated_at": _iso(now)}
    obj.updated_at = now
    obj.save()
    _webhook(account, "sales_order.updated", obj.data)
    return _public(obj.data)


def _so_delete(account: EmuAccount, obj: EmuObject) -> None:
    so = obj.data
    if so["status"] in ("NOT_SHIPPED", "PENDING"):
        for row in so["sales_order_rows"]:
            _add_stock(account, row["variant_id"], row.get("location_id") or so.get("location_id") or 1,
                       committed=-int(row["quantity"]))
    now = timezone.now()
    obj.deleted, obj.updated_at = True, now
    obj.data = {**so, "deleted_at": _iso(now), "updated_at": _iso(now)}
    obj.save()
    _webhook(account, "sales_order.deleted", so)
