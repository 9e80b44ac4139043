"""Which Katana to talk to (environment → base URL) and the connection tester."""

from __future__ import annotations

from django.conf import settings as dj_settings

from integrations.connectors.katana import settings as ks
from integrations.exceptions import AuthError
from integrations.models import Integration

SANDBOX_PREFIX = "/integrations/katana/sandbox"


def sandbox_root() -> str:
    return f"{dj_settings.SITE_URL.rstrip('/')}{SANDBOX_PREFIX}"


def base_url(integration: Integration) -> str:
    if integration.environment == ks.SANDBOX:
        if not dj_settings.SANDBOX_ENABLED:
            raise AuthError("The Sandbox environment is only available when SANDBOX_ENABLED is on.")
        return sandbox_root() + "/v1"
    return ks.API_BASE_URL


def oauth_urls(integration: Integration) -> tuple[str, str]:
    """(authorize URL, token URL): Katana's login host, or the emulator's in the sandbox."""
    if integration.environment == ks.SANDBOX:
        return sandbox_root() + "/authorize", sandbox_root() + "/oauth/token"
    return ks.AUTHORIZE_URL, ks.TOKEN_URL


def katana_connection_test(integration: Integration) -> str:
    """One cheap authenticated call (GET /locations, first page): a refused key raises AuthError."""
    from integrations.connectors.katana.client import make_client

    listing = make_client(integration).locations_list()
    mode = "API key" if integration.get_credentials().get("api_key") else "OAuth"
    label = dict(ks.ENVIRONMENTS).get(integration.environment or ks.PRODUCTION, integration.environment)
    return f"Connected to {label} ({mode}): {len(listing.items)} location(s) visible."
