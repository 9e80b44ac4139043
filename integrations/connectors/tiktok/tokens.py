"""Access/refresh tokens: stored encrypted in the integration's credentials, expiry in
`Integration.auth_expires_at` (access token) and `remote_state` (refresh token). Refreshed ahead of
expiry and once on an expired-token answer, with one refresh in flight per integration
(compare-and-set lease on TokenRefreshLease). Both tokens are persisted in one write before use."""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from typing import Callable

from django.db.models import Q
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.models import TokenRefreshLease
from integrations.connectors.tiktok.transport import TikTokAuthClient
from integrations.exceptions import AuthError, TransientError
from integrations.models import Integration


def _from_epoch(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=dt_timezone.utc) if value else None
    except (TypeError, ValueError):
        return None


@sensitive_variables("data", "creds")
def tokens_store(*, integration: Integration, data: dict) -> None:
    """Persist both tokens and their expiries in one write."""
    if not data.get("access_token") or not data.get("refresh_token"):
        raise AuthError("tiktok: token answer without access_token/refresh_token")
    creds = integration.get_credentials()
    creds.update(access_token=data["access_token"], refresh_token=data["refresh_token"])
    integration.set_credentials(creds)
    access_expiry = _from_epoch(data.get("access_token_expire_in"))
    refresh_expiry = _from_epoch(data.get("refresh_token_expire_in"))
    state = dict(integration.remote_state or {})
    state.update({
        "access_token_expires_at": access_expiry.isoformat() if access_expiry else None,
        "refresh_token_expires_at": refresh_expiry.isoformat() if refresh_expiry else None,
        "seller_name": data.get("seller_name", state.get("seller_name", "")),
        "seller_base_region": data.get("seller_base_region", state.get("seller_base_region", "")),
        "open_id": data.get("open_id", state.get("open_id", "")),
        "granted_scopes": data.get("granted_scopes", state.get("granted_scopes", [])),
        "token_refreshed_at": timezone.now().isoformat(),
    })
    integration.remote_state = state
    integration.auth_expires_at = access_expiry
    integration.save(update_fields=["credentials_encrypted", "remote_state", "auth_expires_at", "updated_at"])


def token_needs_refresh(*, integration: Integration, now: datetime | None = None) -> bool:
    now = now or timezone.now()
    if not integration.auth_expires_at:
        return False
    return integration.auth_expires_at - now <= timedelta(seconds=c.REFRESH_AHEAD_SECONDS)


def _lease_claim(integration: Integration, now: datetime) -> str | None:
    TokenRefreshLease.objects.get_or_create(integration=integration)
    token = secrets.token_hex(16)
    won = TokenRefreshLease.objects.filter(integration=integration).filter(
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    ).update(token=token, locked_until=now + timedelta(seconds=c.REFRESH_LEASE_SECONDS))
    return token if won else None


def _lease_release(integration: Integration, token: str) -> None:
    TokenRefreshLease.objects.filter(integration=integration, token=token).update(token="", locked_until=None)


@sensitive_variables("creds", "data", "stale_access_token")
def token_refresh(*, integration: Integration, stale_access_token: str = "", wait_seconds: float = 5.0,
                  sleep: Callable[[float], None] = time.sleep) -> str:
    """Refresh the token pair and return the access token to use.

    `stale_access_token` is the token the caller holds: if another worker already replaced it, that
    token is used and no refresh is made. If another refresh is in flight, wait for it briefly."""
    now = timezone.now()
    lease = _lease_claim(integration, now)
    if lease is None:
        waited = 0.0
        while waited < wait_seconds:
            sleep(0.5)
            waited += 0.5
            integration.refresh_from_db(fields=["credentials_encrypted", "remote_state", "auth_expires_at"])
            current = integration.get_credentials().get("access_token", "")
            if current and current != stale_access_token:
                return current
        raise TransientError("tiktok: a token refresh is already in progress for this integration")
    try:
        integration.refresh_from_db(fields=["credentials_encrypted", "remote_state", "auth_expires_at"])
        creds = integration.get_credentials()
        current = creds.get("access_token", "")
        if stale_access_token and current and current != stale_access_token:
            return current  # someone refreshed between our failed call and the lease
        if not stale_access_token and current and not token_needs_refresh(integration=integration):
            return current
        if not creds.get("refresh_token"):
            raise AuthError("tiktok: no refresh token; connect the integration to TikTok again")
        client = TikTokAuthClient.for_integration(integration)
        data = client.token_refresh(refresh_token=creds["refresh_token"])
        tokens_store(integration=integration, data=data)
        return data["access_token"]
    finally:
        _lease_release(integration, lease)
