"""TikTok Shop client: one method per endpoint over a signed generic `api()` call (reference §2, §3)."""
from __future__ import annotations

import json
import time
from typing import Any, Callable

from urllib3 import encode_multipart_formdata

from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok import tokens
from integrations.connectors.tiktok.endpoints_catalog import CatalogEndpoints
from integrations.connectors.tiktok.signing import sign_request
from integrations.connectors.tiktok.transport import TikTokTransport, TokenExpiredError, base_urls, budget_for
from integrations.exceptions import AuthError
from integrations.http import CallCounter

__all__ = ["TikTokClient", "TokenExpiredError", "base_urls", "budget_for", "make_client"]


class TikTokClient(CatalogEndpoints, TikTokTransport):
    """The business host: signed calls, one method per endpoint; token refresh through `tokens.py`."""

    def __init__(self, *, app_key: str, app_secret: str, access_token: str = "", shop_cipher: str = "",
                 auth_base_url: str = c.AUTH_BASE_URL, integration=None, clock: Callable[[], float] = time.time,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_key = app_key
        self.app_secret = app_secret
        self.access_token = access_token
        self.shop_cipher = shop_cipher
        self.auth_base_url = auth_base_url.rstrip("/")
        self.integration = integration
        self.clock = clock
        self._token_checked = False

    @classmethod
    def for_integration(cls, integration, *, counter: CallCounter | None = None) -> "TikTokClient":
        creds = integration.get_credentials()
        api_base, auth_base = base_urls(integration)
        return cls(app_key=creds.get("app_key", ""), app_secret=creds.get("app_secret", ""),
                   access_token=creds.get("access_token", ""), shop_cipher=(integration.remote_state or {}).get("shop_cipher", ""),
                   base_url=api_base, auth_base_url=auth_base, integration=integration, counter=counter,
                   budget=budget_for(integration))

    # --- generic signed call -----------------------------------------------------------------

    def api(self, method: str, path: str, *, query: dict | None = None, body: dict | None = None, shop: bool = True) -> dict:
        """Signed call to the business host; returns the envelope's `data`. Refreshes the token ahead of
        expiry, and once more (then retries once) when TikTok answers that it expired."""
        self._ensure_fresh_token()
        try:
            return self._signed_call(method, path, query=query, body=body, shop=shop)
        except TokenExpiredError:
            if self.integration is None:
                raise
            self.access_token = tokens.token_refresh(integration=self.integration, stale_access_token=self.access_token)
            return self._signed_call(method, path, query=query, body=body, shop=shop)

    def api_multipart(self, path: str, *, fields: dict[str, str], files: dict[str, tuple[str, bytes, str]],
                      shop: bool = False) -> dict:
        """Signed multipart/form-data POST (image/file uploads): the body is not part of the signature (§2.2)."""
        self._ensure_fresh_token()
        raw = encode_multipart_formdata({**fields, **files})
        try:
            return self._signed_call("POST", path, query=None, body=None, shop=shop, multipart=raw)
        except TokenExpiredError:
            if self.integration is None:
                raise
            self.access_token = tokens.token_refresh(integration=self.integration, stale_access_token=self.access_token)
            return self._signed_call("POST", path, query=None, body=None, shop=shop, multipart=raw)

    def _signed_call(self, method: str, path: str, *, query: dict | None, body: dict | None, shop: bool,
                     multipart: tuple[bytes, str] | None = None) -> dict:
        params: dict[str, str] = {k: _query_value(v) for k, v in (query or {}).items() if v is not None}
        params["app_key"] = self.app_key
        params["timestamp"] = str(int(self.clock()))
        if shop:
            if not self.shop_cipher:
                raise AuthError("tiktok: integration is not bound to a shop (no shop_cipher); connect it to TikTok first")
            params["shop_cipher"] = self.shop_cipher
        if multipart is not None:  # signature over path + query only; the form body is never appended
            data, content_type = multipart
            params["sign"] = sign_request(app_secret=self.app_secret, path=path, query=params, content_type=content_type)
            headers = {"x-tts-access-token": self.access_token, "content-type": content_type}
            envelope = self.request(method, path, params=params, data=data, headers=headers)
            return (envelope or {}).get("data") or {}
        body_text = json.dumps(body, separators=(",", ":"), ensure_ascii=False) if body is not None else ""
        params["sign"] = sign_request(app_secret=self.app_secret, path=path, query=params, body=body_text)
        headers = {"x-tts-access-token": self.access_token, "content-type": "application/json"}
        envelope = self.request(method, path, params=params, data=body_text.encode() if body_text else None, headers=headers)
        return (envelope or {}).get("data") or {}

    def _ensure_fresh_token(self) -> None:
        if self._token_checked or self.integration is None:
            return
        self._token_checked = True
        if tokens.token_needs_refresh(integration=self.integration):
            self.access_token = tokens.token_refresh(integration=self.integration, stale_access_token=self.access_token)

    @staticmethod
    def item_errors(data: dict) -> list[dict]:
        """Per-item failures inside a `code: 0` answer (batch/write endpoints, §3.1): [{code, message, detail}]."""
        errors = (data or {}).get("errors") or []
        return [e for e in errors if isinstance(e, dict)]

    # --- authorization -------------------------------------------------------------------------

    def authorized_shops(self) -> list[dict]:
        return self.api("GET", c.PATH_AUTHORIZED_SHOPS, shop=False).get("shops") or []

    # --- orders (§4) ---------------------------------------------------------------------------

    def orders_search(self, *, body: dict, page_size: int = c.ORDER_SEARCH_PAGE_SIZE, page_token: str = "",
                      sort_field: str = "update_time", sort_order: str = "ASC") -> dict:
        query = {"page_size": page_size, "sort_field": sort_field, "sort_order": sort_order}
        if page_token:
            query["page_token"] = page_token
        return self.api("POST", c.PATH_ORDERS_SEARCH, query=query, body=body)

    def orders_get(self, *, ids: list[str]) -> list[dict]:
        if not ids:
            return []
        if len(ids) > c.ORDER_DETAIL_MAX_IDS:
            raise ValueError(f"at most {c.ORDER_DETAIL_MAX_IDS} order ids per detail call")
        return self.api("GET", c.PATH_ORDERS_DETAIL, query={"ids": ids}).get("orders") or []

    # --- fulfillment (§5) ----------------------------------------------------------------------

    def package_mark_shipped(self, *, order_id: str, tracking_number: str, shipping_provider_id: str,
                             order_line_item_ids: list[str]) -> dict:
        body = {"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id,
                "order_line_item_ids": list(order_line_item_ids)}
        return self.api("POST", c.PATH_MARK_PACKAGE_SHIPPED.format(order_id=order_id), body=body)

    def package_shipping_info_update(self, *, package_id: str, tracking_number: str, shipping_provider_id: str) -> dict:
        body = {"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id}
        return self.api("POST", c.PATH_PACKAGE_SHIPPING_INFO_UPDATE.format(package_id=package_id), body=body)

    def order_shipping_info_update(self, *, order_id: str, tracking_number: str, shipping_provider_id: str) -> dict:
        body = {"tracking_number": tracking_number, "shipping_provider_id": shipping_provider_id}
        return self.api("POST", c.PATH_ORDER_SHIPPING_INFO_UPDATE.format(order_id=order_id), body=body)

    def shipping_providers(self, *, delivery_option_id: str) -> list[dict]:
        path = c.PATH_SHIPPING_PROVIDERS.format(delivery_option_id=delivery_option_id)
        return self.api("GET", path).get("shipping_providers") or []

    # --- cancellations (§5.4) ------------------------------------------------------------------

    def order_cancel(self, *, order_id: str, cancel_reason: str, order_line_item_ids: list[str] | None = None) -> dict:
        body: dict[str, Any] = {"order_id": order_id, "cancel_reason": cancel_reason}
        if order_line_item_ids:
            body["order_line_item_ids"] = list(order_line_item_ids)
        return self.api("POST", c.PATH_CANCEL_ORDER, body=body)

    # --- customer service (§11) ----------------------------------------------------------------

    def conversation_create(self, *, buyer_user_id: str) -> dict:
        return self.api("POST", c.PATH_CS_CONVERSATIONS, body={"buyer_user_id": buyer_user_id})

    def message_send(self, *, conversation_id: str, type: str, content: dict) -> dict:
        body = {"type": type, "content": json.dumps(content, separators=(",", ":"), ensure_ascii=False)}
        return self.api("POST", c.PATH_CS_SEND_MESSAGE.format(conversation_id=conversation_id), body=body)


def make_client(ctx) -> TikTokClient:
    """The signed TikTok client for a flow context (shares the run's call counter)."""
    return TikTokClient.for_integration(ctx.integration, counter=ctx.counter)


def _query_value(value: Any) -> str:
    """Arrays are sent comma-joined and signed that way (§2.3)."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
