"""Which OSA to talk to (environment → base URL), the adapter factory and the connection tester."""

from __future__ import annotations

from django.conf import settings as dj_settings

from integrations import safe_fetch, services
from integrations.connectors.osa import settings as osa_settings
from integrations.connectors.osa.adapter import OsaAdapterV1
from integrations.exceptions import AuthError
from integrations.models import Integration


def osa_environment(integration: Integration) -> str:
    """Which OSA: the Environment field when it says Sandbox; else "Select OSA environment" when it has
    been set; else the Environment field when it names an OSA environment; else OSA Stage."""
    if integration.environment == osa_settings.SANDBOX:
        return osa_settings.SANDBOX
    chosen = (integration.settings or {}).get("osa_environment")
    if chosen in osa_settings.BASE_URLS:
        return chosen
    if integration.environment in osa_settings.BASE_URLS:
        return integration.environment
    return osa_settings.STAGE


def sandbox_base_url() -> str:
    return f"{dj_settings.SITE_URL.rstrip('/')}/integrations/osa/sandbox/api/v1"


def osa_base_url(integration: Integration) -> str:
    override = (integration.setting("osa_base_url") or "").strip()
    if override:
        return override.rstrip("/")
    env = osa_environment(integration)
    if env == osa_settings.SANDBOX:
        if not dj_settings.SANDBOX_ENABLED:
            raise AuthError("The Sandbox environment is only available when SANDBOX_ENABLED is on.")
        return sandbox_base_url()
    return osa_settings.BASE_URLS[env]


def osa_override_session(integration: Integration, base_url: str):
    """For a user-supplied "OSA base URL override": a session pinned to the checked public address of its
    host (integrations/safe_fetch.py's rule; REMOTE_URL_CHECK, always on in production), else None (the
    built-in OSA hosts and the local sandbox need no check)."""
    if not (integration.setting("osa_base_url") or "").strip() or not getattr(dj_settings, "REMOTE_URL_CHECK", True):
        return None
    try:
        return safe_fetch.pinned_session(base_url)
    except safe_fetch.FetchError:
        raise AuthError("The OSA base URL override must be a public http(s) address that resolves in time; "
                        "clear it to use the selected OSA environment.") from None


def osa_adapter(integration: Integration, *, counter=None) -> OsaAdapterV1:
    creds = integration.get_credentials()
    missing = [
        label
        for key, label in (("api_key", "API Key"), ("api_secret", "API Secret"), ("osa_domain", "OSA Domain"))
        if not creds.get(key)
    ]
    if missing:
        raise AuthError(f"OSA credentials incomplete: enter {', '.join(missing)}.")
    base_url = osa_base_url(integration)
    adapter = OsaAdapterV1(
        base_url=base_url,
        session=osa_override_session(integration, base_url),
        api_key=creds["api_key"],
        api_secret=creds["api_secret"],
        domain=creds["osa_domain"],
        counter=counter,
    )
    if integration.status != Integration.Status.CONNECTED:
        # A flow whose calls OSA accepts proves the connection: Connected (and an auth exception resolves).
        adapter.on_authenticated = lambda: services.integration_mark_connected(integration=integration)
    return adapter


def osa_connection_test(integration: Integration) -> str:
    """Called by integrations.services.integration_test_connection (raises → integration status Error).
    Stores the OSA store id (the order-number prefix) and the domain on the integration."""
    account = osa_adapter(integration).account_get()
    state = {**(integration.remote_state or {}), "store_id": account.store_id, "account_name": account.name}
    Integration.objects.filter(pk=integration.pk).update(remote_state=state, remote_account_id=account.domain[:120])
    integration.remote_state, integration.remote_account_id = state, account.domain[:120]
    label = dict(osa_settings.ENVIRONMENTS).get(osa_environment(integration), osa_environment(integration))
    return f"Connected to {label} as {account.name or account.domain} (store {account.store_id})."
