"""TikTok wire basics shared by the business client and the token code: hosts, the per-shop shared rate
limit, the `{code, message, request_id, data}` envelope classification (reference §3), and the auth-host
client (token get/refresh, §1.3-§1.4). Imports nothing else of this connector but constants, so
`tokens.py` can use it without importing the business client (which imports `tokens.py`)."""
from __future__ import annotations

from typing import Any

import requests
from django.conf import settings

from integrations.connectors.tiktok import constants as c
from integrations.exceptions import AuthError, PermanentError, RateLimitedError, TransientError
from integrations.http import BaseClient, CallCounter, parse_retry_after
from integrations.outbound_rate import outbound_pause, outbound_slot_acquire


class TokenExpiredError(AuthError):
    """The access token expired (code 105002): refresh once and retry."""


class ShopRateLimit:
    """The shop's request rate, shared by every worker process and machine (integrations/outbound_rate.py):
    TikTok counts requests per app and authorized shop (reference §3.3), so the key is the shop. Plugs into
    BaseClient's `budget` hook: `acquire()` is called once before every request."""

    def __init__(self, *, key: str, qps: float) -> None:
        self.key = key
        self.rate_per_second = qps

    def acquire(self) -> None:
        # Whole requests per period: 5 QPS = 5 per second; 0.5 QPS = 1 per 2 seconds.
        per_seconds = 1 if self.rate_per_second >= 1 else round(1 / self.rate_per_second)
        outbound_slot_acquire(key=self.key, limit=max(1, round(self.rate_per_second * per_seconds)), per_seconds=per_seconds)

    def pause(self, seconds: float) -> None:
        """A 429 with Retry-After: every process calling this shop waits until then."""
        outbound_pause(key=self.key, seconds=seconds)


def rate_key(integration) -> str:
    shop = (integration.remote_state or {}).get("shop_id") or f"integration-{integration.pk}"
    return f"tiktok:{shop}"


def budget_for(integration) -> ShopRateLimit:
    """The shop's shared rate limit at `settings.TIKTOK_QPS` (default c.DEFAULT_QPS)."""
    return ShopRateLimit(key=rate_key(integration), qps=float(getattr(settings, "TIKTOK_QPS", c.DEFAULT_QPS)))


def base_urls(integration) -> tuple[str, str]:
    """(api_base, auth_base) for an integration: sandbox emulator, explicit override, or production."""
    if settings.SANDBOX_ENABLED and integration.environment == "sandbox":
        url = f"{settings.SITE_URL.rstrip('/')}{c.SANDBOX_PATH}"
        return url, url
    override = (integration.remote_state or {}).get("api_base_url")
    if override:
        return override.rstrip("/"), (integration.remote_state.get("auth_base_url") or override).rstrip("/")
    return c.API_BASE_URL, c.AUTH_BASE_URL


class TikTokTransport(BaseClient):
    """BaseClient with TikTok's envelope classification."""

    role = "tiktok"
    base_url = c.API_BASE_URL

    def classify(self, response: requests.Response) -> Any:
        """TikTok puts the outcome in the JSON `code` whatever the HTTP status (§3.1/§3.2)."""
        status = response.status_code
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if status == 429 or (isinstance(envelope, dict) and envelope.get("code") == c.CODE_RATE_LIMITED):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after and isinstance(self.budget, ShopRateLimit):
                self.budget.pause(retry_after)
            raise RateLimitedError("tiktok: rate limited (36009002)", status=status, code=c.CODE_RATE_LIMITED,
                                   retry_after=retry_after)
        if not isinstance(envelope, dict) or "code" not in envelope:
            return super().classify(response)
        code, message = envelope.get("code"), str(envelope.get("message", ""))
        request_id = envelope.get("request_id", "")
        if code == c.CODE_OK and status < 400:
            return envelope
        text = f"tiktok: {message} (code {code}, request_id {request_id})"
        if status >= 500 or code in c.TRANSIENT_CODES:
            raise TransientError(text, status=status, code=code)
        if code == c.CODE_TOKEN_EXPIRED or (code == c.CODE_OVERLOADED_CREDENTIAL and "expire" in message.lower()):
            raise TokenExpiredError(text, status=status, code=code)
        if code in c.AUTH_CODES or code == c.CODE_OVERLOADED_CREDENTIAL or str(code).startswith("105") or status in (401, 403):
            raise AuthError(text, status=status, code=code)
        raise PermanentError(text, status=status, code=code)


class TikTokAuthClient(TikTokTransport):
    """The auth host (`auth.tiktok-shops.com`): token get and refresh. Unsigned; the app secret travels in
    the query (TikTok's design), so only paths are ever logged."""

    def __init__(self, *, app_key: str, app_secret: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.app_key = app_key
        self.app_secret = app_secret

    @classmethod
    def for_integration(cls, integration, *, counter: CallCounter | None = None) -> "TikTokAuthClient":
        creds = integration.get_credentials()
        _, auth_base = base_urls(integration)
        return cls(app_key=creds.get("app_key", ""), app_secret=creds.get("app_secret", ""), base_url=auth_base,
                   counter=counter)

    def _auth_call(self, path: str, query: dict) -> dict:
        params = {"app_key": self.app_key, "app_secret": self.app_secret, **query}
        envelope = self.request("GET", path, params=params)
        return (envelope or {}).get("data") or {}

    def token_get(self, *, auth_code: str) -> dict:
        return self._auth_call(c.PATH_TOKEN_GET, {"auth_code": auth_code, "grant_type": "authorized_code"})

    def token_refresh(self, *, refresh_token: str) -> dict:
        return self._auth_call(c.PATH_TOKEN_REFRESH, {"refresh_token": refresh_token, "grant_type": "refresh_token"})
