"""Acumatica contract-based REST client: one method per endpoint (reference §2). Wire knowledge of the entity
shapes lives in mappers.py; this module knows URLs, verbs, headers, paging, actions, errors and the token.

Every request takes a slot of the integration's shared outbound limiter first (licence-governed limits,
reference §2.6: one bounded rate for all workers), and a 429 pauses every worker on that key."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterator
from urllib.parse import quote, urlsplit

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from integrations.connectors.acumatica import mappers as m
from integrations.connectors.acumatica.settings import DEFAULT_ENDPOINT
from integrations.exceptions import AuthError, PermanentError, RateLimitedError, TransientError
from integrations.http import BaseClient, CallCounter, parse_retry_after

from integrations.outbound_rate import outbound_pause, outbound_slot_acquire

# Licence-governed (reference §2.6: unpublished; one community estimate is 100-150 requests/minute). Stay under
# the low end so a shared instance keeps headroom for its own users.
RATE_LIMIT, RATE_PER_SECONDS = 90, 60
DEFAULT_PAUSE_SECONDS = 30.0  # a 429 without Retry-After
PAGE_SIZE = 100  # $top per list request
ACTION_POLL_LIMIT = 30  # 202 polls of an action before giving up (transient: the run retries later)
ACTION_POLL_INTERVAL = 1.0
SO_SELECT = "OrderType,OrderNbr,Status,CustomerOrder,ExternalRef"
ENDPOINT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9][A-Za-z0-9._]*$")
_LOOPBACK = ("127.0.0.1", "localhost", "testserver", "::1")


class AcumaticaRejected(PermanentError):
    """Acumatica refused the record (400/422): `errors` are (field path, message) pairs it named."""

    def __init__(self, message: str, *, status: int, errors: list[tuple[str, str]] | None = None, entity: Any = None):
        super().__init__(message, status=status, code="rejected")
        self.errors = list(errors or [])
        self.entity = entity

    @property
    def fields(self) -> list[str]:
        return [path for path, _ in self.errors]


class AcumaticaConflict(PermanentError):
    """412: the If-None-Match / If-Match precondition failed (the record already exists, or does not)."""


class AcumaticaNotFound(PermanentError):
    """404 on a record or an action."""


@dataclass(frozen=True)
class _Accepted:
    location: str


def instance_url(raw: str) -> str:
    """The API URL as entered → the instance base URL, or AuthError saying what is wrong with it."""
    value = (raw or "").strip().rstrip("/")
    if not value:
        raise AuthError("Acumatica: enter the API URL (your instance URL, e.g. https://server_name/instance_name).")
    parts = urlsplit(value)
    host = parts.hostname or ""
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment or " " in value:
        raise AuthError(f"Acumatica: the API URL {value!r} is not a valid instance URL (expected "
                        "https://server_name/instance_name, no query string).")
    loopback = host in _LOOPBACK or host.startswith("127.")
    if parts.scheme == "http" and not (loopback and settings.SANDBOX_ENABLED):
        # Plain http only for the local emulator: tokens and the client secret travel in these requests.
        raise AuthError(f"Acumatica: the API URL {value!r} must use https.")
    path = re.sub(r"/(entity|identity)(/.*)?$", "", parts.path.rstrip("/"))  # a pasted API or login URL
    return f"{parts.scheme}://{parts.netloc}{path}"


def endpoint_path(raw: str) -> str:
    value = (raw or "").strip().strip("/") or DEFAULT_ENDPOINT
    if not ENDPOINT_RE.match(value):
        raise AuthError(f"Acumatica: the API EndPoint {value!r} is not Name/Version (e.g. {DEFAULT_ENDPOINT}).")
    return value


class AcumaticaAuthClient(BaseClient):
    """The identity server: authorization-code exchange and refresh (reference §2.2)."""

    role = "acumatica-identity"

    def __init__(self, *, instance: str, client_id: str, client_secret: str, limiter_key: str = "", **kwargs):
        super().__init__(base_url=instance, **kwargs)
        self.client_id, self.client_secret, self.limiter_key = client_id, client_secret, limiter_key

    def request(self, method, path, **kwargs):
        if self.limiter_key:
            outbound_slot_acquire(key=self.limiter_key, limit=RATE_LIMIT, per_seconds=RATE_PER_SECONDS)
        return super().request(method, path, **kwargs)

    def authorize_url(self, *, redirect_uri: str, state: str) -> str:
        from urllib.parse import urlencode

        query = urlencode({"response_type": "code", "client_id": self.client_id, "redirect_uri": redirect_uri,
                           "scope": "api offline_access", "state": state})
        return f"{self.base_url}/identity/connect/authorize?{query}"

    @sensitive_variables("code")
    def token_from_code(self, *, code: str, redirect_uri: str) -> dict:
        return self.request("POST", "/identity/connect/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": self.client_id, "client_secret": self.client_secret})

    @sensitive_variables("refresh_token")
    def token_refresh(self, *, refresh_token: str) -> dict:
        return self.request("POST", "/identity/connect/token", data={
            "grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": self.client_id, "client_secret": self.client_secret})

    def classify(self, response: requests.Response):
        # The identity server answers a refused grant with 400 {"error": "invalid_grant"}: permanent, not transient.
        if response.status_code in (400, 401) and "json" in response.headers.get("Content-Type", ""):
            try:
                body = response.json()
            except ValueError:
                body = {}
            error = body.get("error") if isinstance(body, dict) else ""
            raise AuthError(f"acumatica: the identity server refused the grant ({error or response.status_code})",
                            status=response.status_code, code=error or None)
        return super().classify(response)


class AcumaticaClient(BaseClient):
    """`{instance}/entity/{Endpoint}/{Version}/{Entity}` with a bearer token; `token_provider(stale)` returns the
    access token to use (refreshing single-flight when `stale` is the token just refused)."""

    role = "acumatica"

    def __init__(self, *, instance: str, endpoint: str, token_provider: Callable[[str], str], limiter_key: str,
                 counter: CallCounter | None = None, session=None, sleep: Callable[[float], None] = time.sleep, **kwargs):
        super().__init__(base_url=f"{instance}/entity/{endpoint}", counter=counter, session=session, **kwargs)
        self.instance, self.endpoint = instance, endpoint
        self.token_provider, self.limiter_key, self.sleep = token_provider, limiter_key, sleep
        self._token = ""
        self.on_authenticated: Callable[[], None] | None = None

    # --- transport ----------------------------------------------------------------------------------------

    def finalize_request(self, prepared):
        prepared.headers["Authorization"] = f"Bearer {self._token}"
        prepared.headers.setdefault("Accept", "application/json")
        return prepared

    def request(self, method: str, path: str, **kwargs) -> Any:
        if not self._token:
            self._token = self.token_provider("")
        try:
            return self._once(method, path, **kwargs)
        except AuthError as exc:
            if exc.status != 401:
                raise
            # The access token expired or was revoked early: refresh once (single-flight) and try again.
            self._token = self.token_provider(self._token)
            return self._once(method, path, **kwargs)

    def _once(self, method: str, path: str, **kwargs) -> Any:
        outbound_slot_acquire(key=self.limiter_key, limit=RATE_LIMIT, per_seconds=RATE_PER_SECONDS)
        result = super().request(method, path, **kwargs)
        if self.on_authenticated is not None:
            callback, self.on_authenticated = self.on_authenticated, None
            callback()
        return result

    def classify(self, response: requests.Response) -> Any:
        status = response.status_code
        if status == 429:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            outbound_pause(key=self.limiter_key, seconds=wait if wait is not None else DEFAULT_PAUSE_SECONDS)
            raise RateLimitedError(f"acumatica: rate limited ({_message(response) or 'licence limit'})", status=429,
                                   retry_after=wait if wait is not None else DEFAULT_PAUSE_SECONDS)
        if status == 202:
            return _Accepted(location=response.headers.get("Location", ""))
        if status == 412:
            raise AcumaticaConflict(f"acumatica: precondition failed (412): {_message(response) or 'the record already exists'}",
                                    status=412, code="precondition_failed")
        if status == 422:
            entity = _json(response)
            errors = m.entity_errors(entity) or [("(record)", _message(response) or "rejected")]
            text = "; ".join(f"{path}: {msg}" for path, msg in errors)
            raise AcumaticaRejected(f"Acumatica rejected the record: {text}", status=422, errors=errors, entity=entity)
        if status == 400:
            msg = _message(response) or response.text[:300]
            raise AcumaticaRejected(f"Acumatica rejected the request: {msg}", status=400, errors=_model_state(response) or [("(request)", msg)])
        if status == 404:
            where = response.request.path_url.split("?")[0] if response.request is not None else ""
            raise AcumaticaNotFound(f"acumatica: not found (404) at {where}: {_message(response) or 'no such record'}. If every "
                                    "call says this, the API EndPoint is not published on this instance: “Test connection” "
                                    "lists the endpoints it publishes.", status=404, code="not_found")
        return super().classify(response)

    # --- helpers ------------------------------------------------------------------------------------------

    def _list(self, entity: str, *, params: dict) -> list[dict]:
        data = self.request("GET", f"/{entity}", params=params)
        if not isinstance(data, list):
            raise TransientError(f"acumatica: {entity} list answer is not an array")
        return data

    def keyset_pages(self, entity: str, *, key: str, filters: list[str], select: str = "", expand: str = "",
                     page_size: int = PAGE_SIZE) -> Iterator[list[dict]]:
        """Pages of a list in key order, each asking for keys after the last one read ($top plus `Key gt 'last'`,
        reference §2.4): a row changing while we page never shifts another row onto a page already read."""
        last = ""
        while True:
            clauses = list(filters) + ([f"{key} gt {m.odata_quote(last)}"] if last else [])
            params = {"$top": str(page_size)}
            if clauses:
                params["$filter"] = " and ".join(clauses)
            if select:
                params["$select"] = select
            if expand:
                params["$expand"] = expand
            rows = self._list(entity, params=params)
            if rows:
                yield rows
            keys = [m.unwrap_entity(r).get(key) for r in rows]
            keys = [str(k) for k in keys if k]
            if len(rows) < page_size or not keys:
                return
            last = max(keys)

    def action(self, entity: str, action: str, *, entity_keys: dict, parameters: dict | None = None) -> None:
        """POST an action; 204 done, 202 → poll the Location until it stops answering 202 (reference §2.4)."""
        body = {"entity": m.wrap_entity(entity_keys), "parameters": m.wrap_entity(parameters or {})}
        answer = self.request("POST", f"/{entity}/{action}", json=body)
        polls = 0
        while isinstance(answer, _Accepted):
            if not answer.location:
                raise TransientError(f"acumatica: {action} answered 202 without a Location to poll")
            polls += 1
            if polls > ACTION_POLL_LIMIT:
                raise TransientError(f"acumatica: {action} still running after {ACTION_POLL_LIMIT} polls")
            self.sleep(ACTION_POLL_INTERVAL)
            answer = self.request("GET", _relative(answer.location, self.base_url))

    # --- endpoints ----------------------------------------------------------------------------------------

    def endpoints_get(self) -> dict:
        """GET {instance}/entity: the ERP version and the endpoints the instance publishes."""
        return self.request("GET", f"{self.instance}/entity")

    def sales_order_create(self, *, order: m.SalesOrderOut) -> m.RemoteSalesOrder:
        data = self.request("PUT", "/SalesOrder", params={"$select": SO_SELECT}, json=m.sales_order_body(order),
                            headers={"If-None-Match": "*", "Content-Type": "application/json"})
        return m.sales_order_from_json(data or {})

    def sales_orders_find(self, *, order_type: str, customer_order: str) -> list[m.RemoteSalesOrder]:
        rows = self._list("SalesOrder", params={
            "$filter": f"OrderType eq {m.odata_quote(order_type)} and CustomerOrder eq {m.odata_quote(customer_order)}",
            "$select": SO_SELECT})
        return [m.sales_order_from_json(r) for r in rows]

    def sales_order_get(self, *, order_type: str, order_nbr: str) -> m.RemoteSalesOrder:
        data = self.request("GET", f"/SalesOrder/{quote(order_type, safe='')}/{quote(order_nbr, safe='')}",
                            params={"$select": SO_SELECT})
        return m.sales_order_from_json(data or {})

    def sales_order_cancel(self, *, order_type: str, order_nbr: str) -> None:
        self.action("SalesOrder", "CancelSalesOrder", entity_keys={"OrderType": order_type, "OrderNbr": order_nbr})

    def return_order_create(self, *, ret: m.ReturnOrderOut) -> m.RemoteSalesOrder:
        data = self.request("PUT", "/SalesOrder", params={"$select": SO_SELECT}, json=m.return_order_body(ret),
                            headers={"If-None-Match": "*", "Content-Type": "application/json"})
        return m.sales_order_from_json(data or {})

    def shipments_changed(self, *, since: datetime | None, until: datetime) -> Iterator[list[dict]]:
        """Shipment keys changed in (since, until], in ShipmentNbr order (keys only: details come per record)."""
        filters = [f"LastModifiedDateTime le {m.odata_datetime(until)}"]
        if since is not None:
            filters.insert(0, f"LastModifiedDateTime gt {m.odata_datetime(since)}")
        yield from self.keyset_pages("Shipment", key="ShipmentNbr", filters=filters, select="ShipmentNbr,Status,LastModifiedDateTime")

    def shipment_get(self, *, shipment_nbr: str) -> m.RemoteShipment:
        """One shipment with its lines, orders and packages (reference §2.4: expand details per record, not in lists)."""
        data = self.request("GET", f"/Shipment/{quote(shipment_nbr, safe='')}", params={"$expand": "Details,Orders,Packages"})
        return m.shipment_from_json(data or {})

    def stock_items_changed(self, *, since: datetime | None, until: datetime) -> Iterator[list[dict]]:
        filters = [f"LastModified le {m.odata_datetime(until)}"]
        if since is not None:
            filters.insert(0, f"LastModified gt {m.odata_datetime(since)}")
        yield from self.keyset_pages("StockItem", key="InventoryID", filters=filters,
                                     select="InventoryID,Description,ItemStatus,DefaultPrice,LastModified")

    def stock_item_ids(self) -> Iterator[list[str]]:
        for rows in self.keyset_pages("StockItem", key="InventoryID", filters=["ItemStatus eq 'Active'"], select="InventoryID"):
            yield [str(m.unwrap_entity(r).get("InventoryID") or "") for r in rows]

    def warehouses_list(self) -> list[m.RemoteWarehouse]:
        out = []
        for rows in self.keyset_pages("Warehouse", key="WarehouseID", filters=[], select="WarehouseID,Description,Active"):
            out.extend(m.warehouse_from_json(r) for r in rows)
        return out

    def warehouse_get(self, *, warehouse_id: str) -> m.RemoteWarehouse:
        data = self.request("GET", f"/Warehouse/{quote(warehouse_id, safe='')}", params={"$select": "WarehouseID,Description,Active"})
        return m.warehouse_from_json(data or {})

    def warehouse_create(self, *, warehouse_id: str, description: str) -> m.RemoteWarehouse:
        data = self.request("PUT", "/Warehouse", json=m.wrap_entity({"WarehouseID": warehouse_id, "Description": description,
                                                                      "Active": True}),
                            headers={"If-None-Match": "*", "Content-Type": "application/json"})
        return m.warehouse_from_json(data or {})

    def inventory_summary(self, *, inventory_id: str) -> list[m.StockFigure]:
        """InventorySummaryInquiry (PUT with the filter, $expand=Results; reference §2.7) for one item, all warehouses."""
        data = self.request("PUT", "/InventorySummaryInquiry", params={"$expand": "Results"},
                            json=m.wrap_entity({"InventoryID": inventory_id}), headers={"Content-Type": "application/json"})
        return m.inventory_summary_from_json(data or {}, inventory_id=inventory_id)


def _relative(location: str, base_url: str) -> str:
    """A Location header may be absolute or server-relative; our request() takes absolute URLs as they are."""
    if location.startswith("http"):
        return location
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}{location if location.startswith('/') else '/' + location}"


def _json(response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _message(response) -> str:
    body = _json(response)
    if isinstance(body, dict):
        return str(body.get("exceptionMessage") or body.get("message") or body.get("error") or "")[:300]
    return ""


def _model_state(response) -> list[tuple[str, str]]:
    body = _json(response)
    state = body.get("modelState") if isinstance(body, dict) else None
    if not isinstance(state, dict):
        return []
    return [(str(k), "; ".join(map(str, v if isinstance(v, list) else [v]))) for k, v in state.items()]
