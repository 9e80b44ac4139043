"""Which Acumatica to talk to (API URL + API EndPoint), the client factory and the connection tester."""
from __future__ import annotations

from integrations import services
from integrations.connectors.acumatica import tokens
from integrations.connectors.acumatica.client import AcumaticaClient, endpoint_path, instance_url
from integrations.exceptions import AuthError
from integrations.models import Integration


def acumatica_client(integration: Integration, *, counter=None) -> AcumaticaClient:
    creds = integration.get_credentials()
    instance = instance_url(creds.get("api_url", ""))
    endpoint = endpoint_path(creds.get("api_endpoint", ""))
    if not creds.get("refresh_token"):
        raise AuthError("Acumatica is not connected yet: enter the credentials, save, and click “Connect to Acumatica”.")

    def provide(stale: str) -> str:
        return tokens.token_refresh(integration=integration, stale_access_token=stale)

    client = AcumaticaClient(instance=instance, endpoint=endpoint, token_provider=provide,
                             limiter_key=tokens.limiter_key(integration), counter=counter)
    if integration.status != Integration.Status.CONNECTED and not integration.paused_reason:
        client.on_authenticated = lambda: services.integration_mark_connected(integration=integration)
    return client


def endpoint_check(info: dict, *, endpoint: str) -> str:
    """The ERP version when `endpoint` (Name/Version) is published by the instance, else AuthError naming the
    endpoints it does publish (GET {instance}/entity, reference §2.1)."""
    name, _, version = endpoint.partition("/")
    published = [(str(e.get("name", "")), str(e.get("version", ""))) for e in (info or {}).get("endpoints") or []
                 if isinstance(e, dict)]
    if (name, version) not in published:
        names = ", ".join(f"{n}/{v}" for n, v in published[:12]) or "none listed"
        raise AuthError(f"Acumatica: the API EndPoint {endpoint} does not exist on this instance (it publishes: {names}). "
                        "Enter one of those, or publish the endpoint on the Web Service Endpoints form (SM207060).")
    version_info = (info or {}).get("version") or {}
    return str(version_info.get("acumaticaBuildVersion") or version_info.get("version") or "") if isinstance(version_info, dict) else ""


def connection_test(integration: Integration) -> str:
    client = acumatica_client(integration)
    build = endpoint_check(client.endpoints_get(), endpoint=client.endpoint)
    services.integration_mark_connected(integration=integration)
    return f"Connected to {client.instance} ({client.endpoint}{', Acumatica ' + build if build else ''})."
