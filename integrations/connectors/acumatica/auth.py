"""OAuth 2.0 authorization code (reference §2.2): the Connect page, the callback (state check, code exchange),
re-authorization. Nothing is written unless the whole authorization is valid."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import services
from integrations.connectors.acumatica.models import OAuthState
from integrations.connectors.acumatica.tokens import REAUTHORIZE_DEDUP_KEY, auth_client, redirect_uri, tokens_store
from integrations.exceptions import AuthError, ConnectorError, PermanentError, TransientError
from integrations.models import Integration
from integrations.redaction import secrets_register

STATE_TTL = timedelta(minutes=10)


class OAuthError(Exception):
    def __init__(self, message: str, *, integration: Integration | None = None):
        super().__init__(message)
        self.integration = integration


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def oauth_start(*, integration: Integration, user) -> str:
    """A fresh single-use state bound to the user and integration, and the authorize URL carrying it."""
    try:
        client = auth_client(integration)
    except AuthError as exc:
        raise OAuthError(str(exc), integration=integration) from None
    state = secrets.token_urlsafe(32)
    now = timezone.now()
    OAuthState.objects.create(state_hash=_hash(state), integration=integration, user=user, created_at=now,
                              expires_at=now + STATE_TTL)
    return client.authorize_url(redirect_uri=redirect_uri(), state=state)


def _state_consume(*, state: str, user) -> OAuthState:
    """Compare-and-set: one callback per state, before expiry, by the user who started it."""
    again = "start again from “Connect to Acumatica”."
    if not state:
        raise OAuthError(f"The authorization answer has no state; {again}")
    row = OAuthState.objects.filter(state_hash=_hash(state)).select_related("integration").first()
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


@sensitive_variables("code", "data")
def oauth_complete(*, state: str, code: str, user, error: str = "") -> Integration:
    """Callback: state, then code exchange (never retried: single-use), then one transaction storing both tokens,
    marking the integration Connected, lifting the pause and recording the change."""
    secrets_register(code)
    row = _state_consume(state=state, user=user)
    integration = row.integration
    if error or not code:
        raise OAuthError(f"Acumatica did not authorize the connection ({error or 'no code'}).", integration=integration)
    try:
        data = auth_client(integration).token_from_code(code=code, redirect_uri=redirect_uri())
    except (AuthError, PermanentError) as exc:
        raise OAuthError(f"Acumatica refused the authorization code ({exc}); nothing was changed.",
                         integration=integration) from None
    except (TransientError, ConnectorError) as exc:
        raise OAuthError(f"Acumatica could not be reached to exchange the code ({exc}); nothing was changed.",
                         integration=integration) from None
    if not isinstance(data, dict) or not data.get("access_token") or not data.get("refresh_token"):
        raise OAuthError("Acumatica answered without an access and a refresh token (the Connected Application must "
                         "allow the offline_access scope); nothing was changed.", integration=integration)
    with transaction.atomic():
        tokens_store(integration=integration, data=data)
        Integration.objects.filter(pk=integration.pk).update(paused_reason="")
        integration.paused_reason = ""
        reauthorized = bool((integration.remote_state or {}).get("authorized_at"))
        state_data = {**(integration.remote_state or {}), "authorized_at": timezone.now().isoformat()}
        Integration.objects.filter(pk=integration.pk).update(remote_state=state_data)
        integration.remote_state = state_data
        services.integration_mark_connected(integration=integration)
        services.exceptions_resolve(dedup_keys=[REAUTHORIZE_DEDUP_KEY.format(pk=integration.pk)], note="re-authorized")
        services.integration_record_change(integration=integration, user=user,
                                           summary="Acumatica re-authorized" if reauthorized else "Acumatica connected",
                                           diff={"authorization": {"tokens": "•••"}})
    return integration
