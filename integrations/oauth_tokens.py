"""OAuth token refresh, single-flight across workers and machines, shared by every connector that holds an
access/refresh token pair (TikTok, Katana, Acumatica).

A refresh holds a row lock on the integration's `TokenRefreshLease` row (`select_for_update`; on SQLite the
IMMEDIATE transaction serializes writers) for the whole refresh call, re-reads the tokens once it has the lock,
and stores both new tokens in the same transaction. A worker arriving meanwhile waits on the lock and then uses
the token just stored, so a single-use (rotating) refresh token is sent once, however slow the call.

A refresh re-entered in the same thread (a second run nested inside the first one's refresh call, on the same
database connection: the row lock, held by that connection, cannot block it) never sends the refresh token the outer
call is spending: it uses the stored access token while that is still valid, else raises a TransientError (the run
is retried after the outer refresh committed).

A refresh the remote refuses cannot recover by itself: the connector's `refused` callback puts the integration in
Error with its flows paused and an open "Re-authorize …" exception (`reauthorize_required`); connecting again
clears all three."""
from __future__ import annotations

from contextvars import ContextVar
from typing import Callable

from django.db import transaction
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from integrations import services
from integrations.exceptions import AuthError, PermanentError, TransientError
from integrations.models import Integration, OpsException, TokenRefreshLease

TOKEN_FIELDS = ("credentials_encrypted", "remote_state", "auth_expires_at")
_REFRESHING: ContextVar[frozenset] = ContextVar("oauth_tokens_refreshing", default=frozenset())


@sensitive_variables("creds", "data", "stale_access_token")
def token_refresh_single_flight(
    *,
    integration: Integration,
    stale_access_token: str,
    label: str,
    needs_refresh: Callable[[Integration], bool],
    refresh: Callable[[Integration, dict], dict],
    store: Callable[[Integration, dict], None],
    refused: Callable[[Integration, str], AuthError],
) -> str:
    """The access token to use: the stored one when another worker refreshed since the caller read
    `stale_access_token` (or, with no stale token, while it is not due), else a refreshed one, once across all
    workers. `refresh(integration, credentials)` calls the remote's token endpoint; `store` persists its answer.
    Call it outside other transactions: the new tokens commit with the refresh, never roll back with a caller's
    work."""
    TokenRefreshLease.objects.get_or_create(integration_id=integration.pk)
    rejected: Exception | None = None
    with transaction.atomic():
        TokenRefreshLease.objects.select_for_update().get(integration_id=integration.pk)
        fresh = Integration.objects.get(pk=integration.pk)  # read after the lock: sees a refresh just committed
        creds = fresh.get_credentials()
        current = creds.get("access_token", "")
        if stale_access_token and current and current != stale_access_token:
            token = current  # someone refreshed since the caller read its token
        elif not stale_access_token and current and not needs_refresh(fresh):
            token = current
        elif integration.pk in _REFRESHING.get():
            token = _reentered(fresh=fresh, current=current, label=label)
        elif not creds.get("refresh_token"):
            token, rejected = "", AuthError(f"{label}: no refresh token stored")
        else:
            marker = _REFRESHING.set(_REFRESHING.get() | {integration.pk})
            try:
                data = refresh(fresh, creds)
            except (AuthError, PermanentError) as exc:  # answered and refused: retrying cannot help
                token, rejected = "", exc
            else:
                store(fresh, data or {})
                token = data["access_token"]
            finally:
                _REFRESHING.reset(marker)
    for name in TOKEN_FIELDS:
        setattr(integration, name, getattr(fresh, name))
    if rejected is not None:
        raise refused(integration, str(rejected))
    return token


@sensitive_variables("current")
def _reentered(*, fresh: Integration, current: str, label: str) -> str:
    """This thread is inside this integration's refresh call: the stored token while its recorded expiry is ahead (a
    refresh ahead of expiry can wait for the outer one), else a retryable error; never a second use of the refresh
    token. (A token the remote expired early is sent once more and refused again: the nested run fails.)"""
    expires_at = fresh.auth_expires_at
    if current and expires_at is not None and expires_at > timezone.now():
        return current
    raise TransientError(f"{label}: a token refresh is in flight in this worker; retry once it has completed")


def reauthorize_required(*, integration: Integration, code: str, dedup_key: str, message: str, pause: str) -> AuthError:
    """Error status, flows paused (`pause` is the reason shown), an open exception saying the way out; returns the
    error to raise. The connector's reconnect resolves the exception and clears the pause."""
    Integration.objects.filter(pk=integration.pk).update(paused_reason=pause)
    integration.paused_reason = pause
    services.integration_mark_error(integration=integration, message=message)
    services.exception_raise(category=OpsException.Category.CONNECTOR, code=code, integration=integration,
                             dedup_key=dedup_key, message=message)
    return AuthError(message)
