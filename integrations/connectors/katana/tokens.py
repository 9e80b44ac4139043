"""OAuth tokens (Katana's login host, reference §1.1): access + refresh token stored encrypted in the credentials,
access expiry in `Integration.auth_expires_at`. Refresh tokens rotate and reusing an expired one invalidates the
chain, so a refresh is single-flight across workers (integrations.oauth_tokens): it holds the integration's
`integrations.TokenRefreshLease` row lock for the whole call, re-reads the tokens after the lock, and stores both
new tokens in one write. A worker arriving meanwhile waits on the lock, then uses the token just stored. A refused
refresh puts the integration in Error with a "Re-authorize Katana" exception and its flows paused; connecting again
(integrations.oauth.oauth_complete) clears all three."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import oauth_tokens
from integrations.exceptions import AuthError
from integrations.http import BaseClient
from integrations.models import Integration

REAUTHORIZE_CODE = "katana_reauthorize"
REAUTHORIZE_DEDUP_KEY = "katana:reauthorize:{pk}"
REFRESH_AHEAD = timedelta(minutes=5)


class KatanaAuthClient(BaseClient):
    """The login host's token endpoint (form-encoded POST)."""

    role = "katana-auth"

    def __init__(self, *, token_url: str, **kwargs):
        super().__init__(**kwargs)
        self.token_url = token_url

    @sensitive_variables("form")
    def token(self, *, form: dict) -> dict:
        return self.request("POST", self.token_url, data=form)

    @classmethod
    def for_integration(cls, integration: Integration) -> "KatanaAuthClient":
        from integrations.connectors.katana.connection import oauth_urls

        return cls(token_url=oauth_urls(integration)[1])


@sensitive_variables("data", "creds")
def tokens_store(*, integration: Integration, data: dict, now: datetime | None = None) -> None:
    """Persist both tokens and the access expiry in one write (keep the newest refresh token)."""
    if not data.get("access_token") or not data.get("refresh_token"):
        raise AuthError("katana: token answer without access_token/refresh_token")
    now = now or timezone.now()
    creds = integration.get_credentials()
    creds.update(access_token=data["access_token"], refresh_token=data["refresh_token"])
    integration.set_credentials(creds)
    try:
        expires_in = int(data.get("expires_in") or 0)
    except (TypeError, ValueError):
        expires_in = 0
    integration.auth_expires_at = now + timedelta(seconds=expires_in) if expires_in else None
    integration.remote_state = {**(integration.remote_state or {}), "token_refreshed_at": now.isoformat()}
    integration.save(update_fields=["credentials_encrypted", "remote_state", "auth_expires_at", "updated_at"])


def token_needs_refresh(*, integration: Integration, now: datetime | None = None) -> bool:
    if not integration.auth_expires_at:
        return False
    return integration.auth_expires_at - (now or timezone.now()) <= REFRESH_AHEAD


def token_refresh(*, integration: Integration, stale_access_token: str = "") -> str:
    """Refresh the pair once across all workers and return the access token to use. When the stored token differs
    from `stale_access_token` another worker refreshed meanwhile: that token is returned, no call is made. Call it
    outside other transactions (the new tokens commit with the refresh)."""
    return oauth_tokens.token_refresh_single_flight(
        integration=integration, stale_access_token=stale_access_token, label="katana",
        needs_refresh=lambda fresh: token_needs_refresh(integration=fresh),
        refresh=lambda fresh, creds: KatanaAuthClient.for_integration(fresh).token(form=_refresh_form(creds)),
        store=lambda fresh, data: tokens_store(integration=fresh, data=data),
        refused=lambda integration_, reason: reauthorize_required(integration=integration_, reason=reason),
    )


@sensitive_variables("creds")
def _refresh_form(creds: dict) -> dict:
    return {"grant_type": "refresh_token", "client_id": creds.get("oauth_client_id", ""),
            "client_secret": creds.get("oauth_client_secret", ""), "refresh_token": creds["refresh_token"]}


def reauthorize_required(*, integration: Integration, reason: str) -> AuthError:
    """Error status, flows paused, an open exception with the way out; returns the error to raise."""
    link = reverse("integrations:katana:connect", args=[integration.pk])
    return oauth_tokens.reauthorize_required(
        integration=integration, code=REAUTHORIZE_CODE, dedup_key=REAUTHORIZE_DEDUP_KEY.format(pk=integration.pk),
        message=(f"Re-authorize Katana: open {link} (“Connect with Katana” on the integration page) and log in again. "
                 f"Katana refused the token refresh ({reason}); flows are paused until then."),
        pause="Re-authorize Katana: the token refresh was refused")
