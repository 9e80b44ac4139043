"""Public endpoints of connectors (webhooks, OAuth callbacks) and the sandbox. Connector packages
add theirs in CONNECTOR_URLS."""
from importlib import import_module

from django.urls import include, path

from integrations.sandbox.routing import sandbox_only

app_name = "integrations"

CONNECTOR_URLS = [
    ("tiktok/", "integrations.connectors.tiktok.urls"),
    ("osa/", "integrations.connectors.osa.urls"),
    ("katana/", "integrations.connectors.katana.urls"),
    ("acumatica/", "integrations.connectors.acumatica.urls"),
]
SANDBOX_URLS = "integrations.sandbox.urls"


def _optional(prefix: str, module: str):
    try:
        import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and module.startswith(exc.name):
            return None  # not written yet
        raise
    return path(prefix, include(module))


urlpatterns = [p for p in (_optional(prefix, module) for prefix, module in CONNECTOR_URLS) if p]
sandbox = _optional("sandbox/", SANDBOX_URLS)
if sandbox:
    urlpatterns.append(sandbox_only([sandbox]))
