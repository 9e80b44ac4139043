"""OAuth 2.0 authorization code ("Click Connect, then log in with your Katana credentials", reference §1.1): Katana's
specifics for the generic flow in integrations.oauth (state, callback, one-transaction store, settings history)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.views.decorators.debug import sensitive_variables

from integrations.connectors.katana import settings as ks
from integrations.connectors.katana.connection import oauth_urls
from integrations.connectors.katana.tokens import REAUTHORIZE_DEDUP_KEY, KatanaAuthClient, tokens_store
from integrations.exceptions import AuthError
from integrations.models import Integration
from integrations.oauth import OAuthProvider


@sensitive_variables("creds")
def _check(integration: Integration) -> None:
    creds = integration.get_credentials()
    if not creds.get("oauth_client_id") or not creds.get("oauth_client_secret"):
        raise AuthError("Enter the OAuth client ID and secret (from Katana's App Partners team) before connecting; or "
                        "enter an API key instead.")


def _authorize_url(integration: Integration, state: str, redirect_uri: str) -> str:
    authorize, _ = oauth_urls(integration)
    return f"{authorize}?" + urlencode({"scope": "offline_access", "response_type": "code", "audience": ks.AUDIENCE,
                                         "client_id": integration.get_credentials()["oauth_client_id"],
                                         "redirect_uri": redirect_uri, "state": state})


@sensitive_variables("code", "creds")
def _exchange(integration: Integration, code: str, redirect_uri: str) -> dict:
    creds = integration.get_credentials()
    return KatanaAuthClient.for_integration(integration).token(form={
        "grant_type": "authorization_code", "client_id": creds.get("oauth_client_id", ""),
        "client_secret": creds.get("oauth_client_secret", ""), "redirect_uri": redirect_uri, "code": code})


PROVIDER = OAuthProvider(
    connector="katana", label="Katana", connect_label="Connect with Katana", check=_check,
    authorize_url=_authorize_url, exchange=_exchange,
    store=lambda integration, data: tokens_store(integration=integration, data=data),
    reauthorize_dedup_key=REAUTHORIZE_DEDUP_KEY)
