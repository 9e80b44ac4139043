"""Access/refresh tokens: stored encrypted in the integration's credentials, expiry in
`Integration.auth_expires_at` (access token) and `remote_state` (refresh token). Refreshed ahead of
expiry and once on an expired-token answer.

Single flight across workers and machines: a refresh holds a row lock (`select_for_update` on the
integration's `TokenRefreshLease` row; on SQLite the IMMEDIATE transaction serializes writers) for the
whole refresh call, re-reads the tokens once it has the lock, and stores both new tokens in the same
transaction. A worker arriving meanwhile waits on the lock and then uses the token just stored, so
TikTok's single-use refresh token is sent once, however slow the call.

A refresh TikTok refuses (for example a refresh token consumed by a call whose answer was lost) cannot
recover by itself: the integration goes to Error, its flows are paused and an exception says
"Re-authorize TikTok"; connecting the shop again (auth.shop_bind) clears all three."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone as dt_timezone

from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import oauth_tokens
from integrations.connectors.tiktok import constants as c
from integrations.connectors.tiktok.transport import TikTokAuthClient
from integrations.exceptions import AuthError
from integrations.models import Integration

REAUTHORIZE_CODE = "tiktok_reauthorize"
REAUTHORIZE_DEDUP_KEY = "tiktok:reauthorize:{pk}"


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


def token_refresh(*, integration: Integration, stale_access_token: str = "") -> str:
    """Refresh the token pair (once across all workers) and return the access token to use.

    `stale_access_token` is the token the caller holds: when the stored one differs (another worker
    refreshed), the stored one is returned and no refresh is made. Call it outside other transactions:
    the new tokens must commit with the refresh, never roll back with a caller's work."""
    return oauth_tokens.token_refresh_single_flight(
        integration=integration, stale_access_token=stale_access_token, label="tiktok",
        needs_refresh=lambda fresh: token_needs_refresh(integration=fresh),
        refresh=lambda fresh, creds: TikTokAuthClient.for_integration(fresh).token_refresh(refresh_token=creds["refresh_token"]),
        store=lambda fresh, data: tokens_store(integration=fresh, data=data),
        refused=lambda integration_, reason: reauthorize_required(integration=integration_, reason=reason),
    )


def reauthorize_required(*, integration: Integration, reason: str) -> AuthError:
    """Error status, flows paused, an open exception with the way out; returns the error to raise.
    Resolved by `auth.shop_bind` when the shop is connected again."""
    link = reverse("integrations:tiktok:connect", args=[integration.pk])
    return oauth_tokens.reauthorize_required(
        integration=integration, code=REAUTHORIZE_CODE, dedup_key=REAUTHORIZE_DEDUP_KEY.format(pk=integration.pk),
        message=(f"Re-authorize TikTok: open {link} ('Connect to TikTok' on the integration page) and approve the "
                 f"shop again. TikTok refused the token refresh ({reason}); flows are paused until then."),
        pause="Re-authorize TikTok: the token refresh was refused")
