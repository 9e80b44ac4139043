"""OAuth 2.0 authorization code, once for every connector that connects this way (Katana, Acumatica; TikTok uses
the state half, its callback binds a shop). Security rules (issue #11 item 3):

- the `state` is random, single-use (compare-and-set on `used_at`), expires after STATE_TTL, and is bound to the
  connector, the integration and the user who started it; only its SHA-256 is stored;
- the callback writes nothing unless the whole authorization is valid: state, then the code exchange (never
  retried: a code is single-use), then one transaction storing both tokens, marking the integration Connected,
  lifting a "Re-authorize" pause and exception, and recording the change in the settings history (tokens masked);
- the code, the client secret and the tokens are registered with the redaction filter and never logged.

A connector describes its token endpoint with an `OAuthProvider`; `oauth_views.urlpatterns(provider)` gives it the
connect/callback views behind the credentials permission."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Callable

from django.conf import settings as dj_settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import services
from integrations.exceptions import AuthError, ConnectorError, PermanentError, TransientError
from integrations.models import Integration, OAuthState
from integrations.redaction import secrets_register

STATE_TTL = timedelta(minutes=10)


class OAuthError(Exception):
    """The authorization cannot start or complete; the message is shown to the user (on the integration's page
    when the state was valid and `integration` is known, else as a plain 400)."""

    def __init__(self, message: str, *, integration: Integration | None = None):
        super().__init__(message)
        self.integration = integration


@dataclass(frozen=True)
class OAuthProvider:
    """What differs between connectors: names shown to the user and the token endpoint's specifics.

    `check(integration)` raises AuthError saying which credentials are missing; `authorize_url(integration, state,
    redirect_uri)` is the remote's login page; `exchange(integration, code, redirect_uri)` calls the token endpoint
    (grant_type authorization_code) and returns its answer; `store(integration, data)` persists both tokens."""

    connector: str
    label: str  # "Katana"
    connect_label: str  # the button: "Connect with Katana"
    check: Callable[[Integration], None]
    authorize_url: Callable[[Integration, str, str], str]
    exchange: Callable[[Integration, str, str], dict]
    store: Callable[[Integration, dict], None]
    reauthorize_dedup_key: str  # "katana:reauthorize:{pk}"
    no_tokens_hint: str = ""  # appended to "answered without an access and a refresh token"
    connect_template: str = ""  # a GET on connect renders it (the POST starts); empty: a GET starts


def state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def redirect_uri(connector: str) -> str:
    """The callback URL to register with the remote (shown on the Connect page)."""
    return dj_settings.SITE_URL.rstrip("/") + reverse(f"integrations:{connector}:callback")


def state_issue(*, connector: str, integration: Integration, user) -> str:
    """A fresh single-use state bound to the connector, the integration and the user."""
    state = secrets.token_urlsafe(32)
    now = timezone.now()
    OAuthState.objects.create(state_hash=state_hash(state), connector=connector, integration=integration, user=user,
                              created_at=now, expires_at=now + STATE_TTL)
    return state


def state_consume(*, connector: str, state: str, user, connect_label: str) -> OAuthState:
    """Compare-and-set: one callback per state, for this connector, before expiry, by the user who started it."""
    again = f"start again from “{connect_label}”."
    if not state:
        raise OAuthError(f"The authorization answer has no state; {again}")
    row = OAuthState.objects.filter(state_hash=state_hash(state), connector=connector).select_related("integration").first()
    if row is None:
        raise OAuthError(f"Unknown authorization state; {again}")
    if row.user_id != getattr(user, "pk", None):
        raise OAuthError("This authorization was started by another user.")
    now = timezone.now()
    if row.used_at is not None:
        raise OAuthError(f"This authorization state was already used; {again}")
    if row.expires_at <= now:
        raise OAuthError(f"This authorization state expired; {again}")
    if not OAuthState.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now):
        raise OAuthError(f"This authorization state was already used; {again}")
    return row


def oauth_start(*, provider: OAuthProvider, integration: Integration, user) -> str:
    """The remote's authorize URL carrying a fresh state; nothing is stored when credentials are missing."""
    try:
        provider.check(integration)
    except AuthError as exc:
        raise OAuthError(str(exc), integration=integration) from None
    state = state_issue(connector=provider.connector, integration=integration, user=user)
    return provider.authorize_url(integration, state, redirect_uri(provider.connector))


@sensitive_variables("code", "data")
def _exchange(*, provider: OAuthProvider, integration: Integration, code: str) -> dict:
    """The token answer for a code, or OAuthError saying why; writes nothing."""
    label = provider.label
    try:
        data = provider.exchange(integration, code, redirect_uri(provider.connector))
    except (AuthError, PermanentError) as exc:
        raise OAuthError(f"{label} refused the authorization code ({exc}); nothing was changed.",
                         integration=integration) from None
    except (TransientError, ConnectorError) as exc:
        raise OAuthError(f"{label} could not be reached to exchange the code ({exc}); nothing was changed. Try again.",
                         integration=integration) from None
    if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
        raise OAuthError(f"{label} answered without an access and a refresh token{provider.no_tokens_hint}; nothing "
                         "was changed.", integration=integration)
    secrets_register(data["access_token"], data["refresh_token"])
    return data


@sensitive_variables("code", "data")
def oauth_complete(*, provider: OAuthProvider, state: str, code: str, user, error: str = "") -> Integration:
    """Callback: the state, then the code exchange, then one transaction storing both tokens, marking the
    integration Connected, lifting the pause, resolving "Re-authorize" and recording the change."""
    secrets_register(code)  # single-use, but masked in any error text from here on
    row = state_consume(connector=provider.connector, state=state, user=user, connect_label=provider.connect_label)
    integration = row.integration
    if error or not code:
        raise OAuthError(f"{provider.label} did not authorize the connection ({error or 'no code'}).",
                         integration=integration)
    data = _exchange(provider=provider, integration=integration, code=code)
    with transaction.atomic():
        integration.refresh_from_db()
        reauthorized = bool((integration.remote_state or {}).get("authorized_at"))
        provider.store(integration, data)
        state_data = {**(integration.remote_state or {}), "authorized_at": timezone.now().isoformat()}
        Integration.objects.filter(pk=integration.pk).update(remote_state=state_data, paused_reason="")
        integration.remote_state, integration.paused_reason = state_data, ""
        services.integration_mark_connected(integration=integration)
        services.exceptions_resolve(dedup_keys=[provider.reauthorize_dedup_key.format(pk=integration.pk)],
                                    note="re-authorized")
        services.integration_record_change(
            integration=integration, user=user,
            summary=f"{provider.label} {'re-authorized' if reauthorized else 'connected'} (OAuth)",
            diff={"authorization": {"mode": "oauth", "tokens": "•••"}})
    return integration
