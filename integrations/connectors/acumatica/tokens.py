"""Access/refresh tokens (reference §2.2): stored encrypted in the integration's credentials, the access token's expiry
in `Integration.auth_expires_at`. Refreshed ahead of expiry and once on a 401.

Single flight across workers (integrations.oauth_tokens): a refresh holds a row lock on the integration's
`integrations.TokenRefreshLease` for the whole refresh call, re-reads the tokens once it has the lock, and stores
both new tokens in one write. Acumatica rotates refresh tokens, so a second worker refreshing with the old one would
be refused; instead it waits on the lock and uses the token just stored. A refused refresh (revoked or expired
grant) cannot recover by itself: the integration goes to Error, its flows pause and an exception says "Re-authorize
Acumatica"; connecting again clears all three."""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings as dj_settings
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import oauth_tokens
from integrations.connectors.acumatica.client import AcumaticaAuthClient, instance_url
from integrations.exceptions import AuthError
from integrations.models import Integration
from integrations.redaction import secrets_register

REFRESH_AHEAD = timedelta(minutes=5)  # refresh this long before the access token expires
REAUTHORIZE_CODE = "acumatica_reauthorize"
REAUTHORIZE_DEDUP_KEY = "acumatica:reauthorize:{pk}"


def limiter_key(integration: Integration) -> str:
    return f"acumatica:{integration.pk}"


def redirect_uri() -> str:
    """What to paste into the Connected Application's Redirect URI (shown on the Connect page)."""
    return f"{dj_settings.SITE_URL.rstrip('/')}{reverse('integrations:acumatica:callback')}"


@sensitive_variables("creds")
def auth_client(integration: Integration) -> AcumaticaAuthClient:
    creds = integration.get_credentials()
    missing = [label for key, label in (("api_url", "API URL"), ("client_id", "API Client ID"),
                                        ("client_secret", "API Client Secret")) if not creds.get(key)]
    if missing:
        raise AuthError(f"Acumatica credentials incomplete: enter {', '.join(missing)}.")
    secrets_register(creds["client_secret"])
    return AcumaticaAuthClient(instance=instance_url(creds["api_url"]), client_id=creds["client_id"],
                               client_secret=creds["client_secret"], limiter_key=limiter_key(integration))


@sensitive_variables("data", "creds")
def tokens_store(*, integration: Integration, data: dict) -> None:
    """Persist both tokens and the access token's expiry in one write."""
    if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
        raise AuthError("acumatica: token answer without access_token/refresh_token (is offline_access granted?)")
    secrets_register(data["access_token"], data["refresh_token"])
    creds = integration.get_credentials()
    creds.update(access_token=data["access_token"], refresh_token=data["refresh_token"])
    integration.set_credentials(creds)
    try:
        lifetime = int(data.get("expires_in") or 3600)
    except (TypeError, ValueError):
        lifetime = 3600
    now = timezone.now()
    state = dict(integration.remote_state or {})
    state.update(token_refreshed_at=now.isoformat(), granted_scope=str(data.get("scope") or ""))
    integration.remote_state = state
    integration.auth_expires_at = now + timedelta(seconds=lifetime)
    integration.save(update_fields=["credentials_encrypted", "remote_state", "auth_expires_at", "updated_at"])


def token_needs_refresh(*, integration: Integration, now: datetime | None = None) -> bool:
    if not integration.auth_expires_at:
        return True
    return integration.auth_expires_at - (now or timezone.now()) <= REFRESH_AHEAD


def token_refresh(*, integration: Integration, stale_access_token: str = "") -> str:
    """The access token to use: the stored one when valid (or when another worker refreshed since the caller read
    `stale_access_token`), else a refreshed one (once across all workers). Call it outside other transactions."""
    return oauth_tokens.token_refresh_single_flight(
        integration=integration, stale_access_token=stale_access_token, label="not connected yet",
        needs_refresh=lambda fresh: token_needs_refresh(integration=fresh),
        refresh=lambda fresh, creds: auth_client(fresh).token_refresh(refresh_token=creds["refresh_token"]),
        store=lambda fresh, data: tokens_store(integration=fresh, data=data),
        refused=lambda integration_, reason: reauthorize_required(integration=integration_, reason=reason),
    )


def reauthorize_required(*, integration: Integration, reason: str) -> AuthError:
    """Error status, flows paused, an open exception with the way out; returns the error to raise."""
    link = reverse("integrations:acumatica:connect", args=[integration.pk])
    return oauth_tokens.reauthorize_required(
        integration=integration, code=REAUTHORIZE_CODE, dedup_key=REAUTHORIZE_DEDUP_KEY.format(pk=integration.pk),
        message=(f"Re-authorize Acumatica: open {link} ('Connect to Acumatica' on the integration page) and sign in "
                 f"again. The authorization is no longer valid ({reason}); flows are paused until then, nothing is lost."),
        pause="Re-authorize Acumatica: the authorization is no longer valid")
