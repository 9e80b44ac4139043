"""OAuth 2.0 authorization code (reference §2.2): Acumatica's specifics for the generic flow in integrations.oauth
(state, callback, one-transaction store, settings history). The Connect page shows the exact Redirect URI to paste
into the Connected Application; its POST starts the authorization."""
from __future__ import annotations

from django.views.decorators.debug import sensitive_variables

from integrations.connectors.acumatica.tokens import REAUTHORIZE_DEDUP_KEY, auth_client, tokens_store
from integrations.models import Integration
from integrations.oauth import OAuthProvider


def _check(integration: Integration) -> None:
    auth_client(integration)  # AuthError saying which credentials are missing or wrong


@sensitive_variables("code")
def _exchange(integration: Integration, code: str, redirect_uri: str) -> dict:
    return auth_client(integration).token_from_code(code=code, redirect_uri=redirect_uri)


PROVIDER = OAuthProvider(
    connector="acumatica", label="Acumatica", connect_label="Connect to Acumatica",
    check=_check,
    authorize_url=lambda integration, state, uri: auth_client(integration).authorize_url(redirect_uri=uri, state=state),
    exchange=_exchange, store=lambda integration, data: tokens_store(integration=integration, data=data),
    reauthorize_dedup_key=REAUTHORIZE_DEDUP_KEY,
    no_tokens_hint=" (the Connected Application must allow the offline_access scope)",
    connect_template="acumatica/connect.html")
