"""Katana public API client: one method per endpoint (reference downstream_apis.md §1).

Every request takes a slot of the shared cross-worker limiter first (Katana allows 60 requests per 60 s per
account; we stay at RATE_LIMIT per RATE_WINDOW_SECONDS), and a 429 pauses every worker of the account until its
Retry-After. Bodies carry only documented fields: Katana validates with additionalProperties: false (422)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import requests

from integrations.connectors.katana import settings as ks
from integrations.exceptions import AuthError, PermanentError, RateLimitedError
from integrations.http import BaseClient, CallCounter, parse_retry_after

from integrations import outbound_rate


# Katana: 60 requests / 60 s per account (reference §1.3). A margin for clocks and other tools on the account.
RATE_LIMIT, RATE_WINDOW_SECONDS = 55, 60
# Katana's maximum page size (reference §1.2: a larger value is silently lowered to 250).
PAGE_LIMIT = 250

SALES_ORDERS = "/sales_orders"
SALES_ORDER = "/sales_orders/{id}"
SALES_ORDER_SHIPPING_FEE = "/sales_order_shipping_fee"
SALES_ORDER_FULFILLMENTS = "/sales_order_fulfillments"
CUSTOMERS = "/customers"
VARIANTS = "/variants"
PRODUCTS = "/products"
INVENTORY = "/inventory"
LOCATIONS = "/locations"
WEBHOOKS = "/webhooks"


class KatanaValidationError(PermanentError):
    """Katana 422: the body was refused; `details` is Katana's list of {path, code, message}."""

    def __init__(self, message: str, *, details: list | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.details = details or []


class KatanaNotFound(PermanentError):
    """Katana 404."""


def validation_message(body: Any) -> str:
    """A readable sentence from Katana's 422 body: message, then each detail as `path: message`."""
    if not isinstance(body, dict):
        return "Katana refused the request (422)."
    parts = []
    for detail in body.get("details") or []:
        if isinstance(detail, dict):
            path = str(detail.get("path") or "").lstrip(".") or "body"
            parts.append(f"{path}: {detail.get('message') or detail.get('code') or 'invalid'}")
    message = str(body.get("message") or "The request body is invalid")
    return f"Katana refused the request: {message}" + (f" ({'; '.join(parts)})" if parts else "")


def pagination(header: str | None) -> dict:
    """X-Pagination JSON; values may come back as strings (reference §1.2): parsed defensively to ints."""
    try:
        data = json.loads(header or "{}")
    except ValueError:
        return {}
    out = {}
    if isinstance(data, dict):
        for key, value in data.items():
            try:
                out[key] = int(value)
            except (TypeError, ValueError):
                out[key] = value
    return out


@dataclass(frozen=True)
class Listing:
    items: list[dict]
    page: int
    total_pages: int | None

    @property
    def last(self) -> bool:
        if self.total_pages is not None:
            return self.page >= self.total_pages
        return len(self.items) < PAGE_LIMIT


class KatanaClient(BaseClient):
    role = "katana"
    base_url = ks.API_BASE_URL

    def __init__(self, *, token: str, limiter_key: str, token_refresher: Callable[[str], str] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.limiter_key = limiter_key
        # OAuth: called with the token Katana refused; returns a fresh one (tokens.token_refresh), once.
        self.token_refresher = token_refresher
        self._last_headers: dict = {}

    def finalize_request(self, prepared: requests.PreparedRequest) -> requests.PreparedRequest:
        prepared.headers["Authorization"] = f"Bearer {self.token}"
        prepared.headers["Accept"] = "application/json"
        return prepared

    def send(self, prepared: requests.PreparedRequest) -> requests.Response:
        response = super().send(prepared)
        self._last_headers = dict(response.headers)
        return response

    def classify(self, response: requests.Response) -> Any:
        status = response.status_code
        if status == 429:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            outbound_rate.outbound_pause(key=self.limiter_key, seconds=retry_after if retry_after is not None else RATE_WINDOW_SECONDS)
            raise RateLimitedError("katana: rate limited (429)", status=status, retry_after=retry_after)
        if status == 422:
            try:
                body = response.json()
            except ValueError:
                body = None
            raise KatanaValidationError(validation_message(body), status=status,
                                        details=(body or {}).get("details") if isinstance(body, dict) else None)
        if status == 404:
            raise KatanaNotFound(f"katana: not found ({response.request.method} {response.request.path_url.split('?')[0]})",
                                 status=status)
        if status in (401, 403):
            raise AuthError(f"katana: not authorized ({status}): the API key or authorization was refused "
                            f"(revoked, outdated, or the account has no API access)", status=status)
        return super().classify(response)

    def call(self, method: str, path: str, *, params: dict | None = None, json: Any = None) -> Any:
        outbound_rate.outbound_slot_acquire(key=self.limiter_key, limit=RATE_LIMIT, per_seconds=RATE_WINDOW_SECONDS)
        try:
            return self.request(method, path, params=params, json=json, headers={"Content-Type": "application/json"})
        except AuthError:
            if self.token_refresher is None:
                raise
            refused, self.token = self.token, self.token_refresher(self.token)
            if not self.token or self.token == refused:
                raise
            outbound_rate.outbound_slot_acquire(key=self.limiter_key, limit=RATE_LIMIT, per_seconds=RATE_WINDOW_SECONDS)
            return self.request(method, path, params=params, json=json, headers={"Content-Type": "application/json"})

    def list_page(self, path: str, *, page: int = 1, **params: Any) -> Listing:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        query.update(limit=PAGE_LIMIT, page=page)
        body = self.call("GET", path, params=query)
        items = body.get("data") if isinstance(body, dict) else body
        if not isinstance(items, list):
            from integrations.exceptions import TransientError

            raise TransientError(f"katana: malformed list answer for {path} (no data array)")
        meta = pagination(self._last_headers.get("X-Pagination"))
        total = meta.get("total_pages")
        return Listing(items=items, page=page, total_pages=total if isinstance(total, int) else None)

    def iterate(self, path: str, **params: Any) -> Iterator[Listing]:
        page = 1
        while True:
            listing = self.list_page(path, page=page, **params)
            yield listing
            if listing.last or not listing.items:
                return
            page += 1

    # --- sales orders -----------------------------------------------------------------------------

    def sales_orders_list(self, *, page: int = 1, **filters: Any) -> Listing:
        """GET /sales_orders (filters: ids, ecommerce_order_id, updated_at_min, include_deleted, status, ...)."""
        return self.list_page(SALES_ORDERS, page=page, **filters)

    def sales_order_create(self, *, body: dict) -> dict:
        """POST /sales_orders (CreateSalesOrderDto)."""
        return self.call("POST", SALES_ORDERS, json=body)

    def sales_order_get(self, *, sales_order_id: int) -> dict:
        return self.call("GET", SALES_ORDER.format(id=int(sales_order_id)))

    def sales_order_update(self, *, sales_order_id: int, body: dict) -> dict:
        """PATCH /sales_orders/{id} (status ∈ NOT_SHIPPED, PENDING, PACKED, DELIVERED)."""
        return self.call("PATCH", SALES_ORDER.format(id=int(sales_order_id)), json=body)

    def sales_order_delete(self, *, sales_order_id: int) -> None:
        self.call("DELETE", SALES_ORDER.format(id=int(sales_order_id)))

    def sales_order_shipping_fee_create(self, *, body: dict) -> dict:
        """POST /sales_order_shipping_fee (sales_order_id, amount as a string, description)."""
        return self.call("POST", SALES_ORDER_SHIPPING_FEE, json=body)

    def sales_order_fulfillments_list(self, *, page: int = 1, **filters: Any) -> Listing:
        """GET /sales_order_fulfillments (filters: sales_order_id, status, updated_at_min, include_deleted, ...)."""
        return self.list_page(SALES_ORDER_FULFILLMENTS, page=page, **filters)

    # --- customers, catalog, stock --------------------------------------------------------------

    def customers_list(self, *, page: int = 1, **filters: Any) -> Listing:
        return self.list_page(CUSTOMERS, page=page, **filters)

    def customer_create(self, *, body: dict) -> dict:
        return self.call("POST", CUSTOMERS, json=body)

    def variants_list(self, *, page: int = 1, **filters: Any) -> Listing:
        """GET /variants (sku, updated_at_min, extend=product_or_material, ...)."""
        return self.list_page(VARIANTS, page=page, **filters)

    def inventory_list(self, *, page: int = 1, **filters: Any) -> Listing:
        return self.list_page(INVENTORY, page=page, **filters)

    def locations_list(self, *, page: int = 1, **filters: Any) -> Listing:
        return self.list_page(LOCATIONS, page=page, **filters)


def make_client(integration, *, counter: CallCounter | None = None) -> KatanaClient:
    """API key when one is entered, else the OAuth access token (refreshed single-flight on a 401)."""
    from integrations.connectors.katana import tokens
    from integrations.connectors.katana.connection import base_url

    creds = integration.get_credentials()
    limiter_key = f"katana:{integration.pk}"
    if creds.get("api_key"):
        return KatanaClient(token=creds["api_key"], limiter_key=limiter_key, base_url=base_url(integration),
                            counter=counter)
    if creds.get("access_token"):
        token = creds["access_token"]
        if tokens.token_needs_refresh(integration=integration):
            token = tokens.token_refresh(integration=integration)
        return KatanaClient(token=token, limiter_key=limiter_key, base_url=base_url(integration), counter=counter,
                            token_refresher=lambda stale: tokens.token_refresh(integration=integration,
                                                                               stale_access_token=stale))
    raise AuthError("Katana is not connected: enter an API key (Katana: Settings › API) or use Connect with Katana.")
