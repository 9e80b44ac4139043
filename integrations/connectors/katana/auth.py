"""OAuth 2.0 authorization code ("Click Connect, then log in with your Katana credentials"): a single-use `state`
bound to the integration and the user, the code exchanged before anything is written, then both tokens and a
settings-history entry in one transaction (reference §1.1)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings as dj_settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import services
from integrations.connectors.katana import settings as ks
from integrations.connectors.katana.connection import oauth_urls
from integrations.connectors.katana.models import OAuthState
from integrations.connectors.katana.tokens import REAUTHORIZE_DEDUP_KEY, KatanaAuthClient, tokens_store
from integrations.exceptions import AuthError, PermanentError, TransientError
from integrations.models import Integration
from integrations.redaction import secrets_register

STATE_TTL = timedelta(minutes=10)


class OAuthError(Exception):
    def __init__(self, message: str, *, integration: Integration | None = None):
        super().__init__(message)
        self.integration = integration


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def redirect_uri() -> str:
    return dj_settings.SITE_URL.rstrip("/") + reverse("integrations:katana:callback")


def oauth_start(*, integration: Integration, user) -> str:
    creds = integration.get_credentials()
    if not creds.get("oauth_client_id") or not creds.get("oauth_client_secret"):
        raise OAuthError("Enter the OAuth client ID and secret (from Katana's App Partners team) before connecting; or "
                         "enter an API key instead.", integration=integration)
    state = secrets.token_urlsafe(32)
    now = timezone.now()
    OAuthState.objects.create(state_hash=_hash(state), integration=integration, user=user, created_at=now,
                              expires_at=now + STATE_TTL)
    authorize, _ = oauth_urls(integration)
    return f"{authorize}?" + urlencode({"scope": "offline_access", "response_type": "code", "audience": ks.AUDIENCE,
                                         "client_id": creds["oauth_client_id"], "redirect_uri": redirect_uri(),
                                         "state": state})


def _state_consume(*, state: str, user) -> OAuthState:
    if not state:
        raise OAuthError("The authorization answer has no state; start again from “Connect with Katana”.")
    row = OAuthState.objects.filter(state_hash=_hash(state)).select_related("integration").first()
    if row is None:
        raise OAuthError("Unknown authorization state; start again from “Connect with Katana”.")
    if row.user_id != getattr(user, "pk", None):
        raise OAuthError("This authorization was started by another user.")
    now = timezone.now()
    if row.expires_at <= now:
        raise OAuthError("This authorization state expired; start again from “Connect with Katana”.")
    if not OAuthState.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now):
        raise OAuthError("This authorization state was already used; start again from “Connect with Katana”.")
    return row


@sensitive_variables("code", "data", "creds")
def oauth_complete(*, state: str, code: str, user, error: str = "") -> Integration:
    secrets_register(code)
    row = _state_consume(state=state, user=user)
    integration = row.integration
    if error or not code:
        raise OAuthError(f"Katana did not authorize the connection ({error or 'no code'}).", integration=integration)
    creds = integration.get_credentials()
    try:
        data = KatanaAuthClient.for_integration(integration).token(form={
            "grant_type": "authorization_code", "client_id": creds.get("oauth_client_id", ""),
            "client_secret": creds.get("oauth_client_secret", ""), "redirect_uri": redirect_uri(), "code": code})
    except (AuthError, PermanentError) as exc:
        raise OAuthError(f"Katana refused the authorization code ({exc}); nothing was changed.", integration=integration) from None
    except TransientError as exc:
        raise OAuthError(f"Katana could not be reached ({exc}); nothing was changed. Try again.", integration=integration) from None
    if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
        raise OAuthError("Katana answered without tokens; nothing was changed.", integration=integration)
    with transaction.atomic():
        integration.refresh_from_db()
        tokens_store(integration=integration, data=data)
        Integration.objects.filter(pk=integration.pk).update(paused_reason="")
        integration.paused_reason = ""
        services.integration_mark_connected(integration=integration)
        services.exceptions_resolve(dedup_keys=[REAUTHORIZE_DEDUP_KEY.format(pk=integration.pk)], note="re-authorized")
        services.integration_record_change(integration=integration, user=user, summary="Katana connected (OAuth)",
                                           diff={"authorization": {"mode": "oauth", "tokens": "•••"}})
    return integration
