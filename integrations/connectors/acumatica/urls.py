"""Acumatica: the OAuth connect page and callback; the emulator (sandbox only) under sandbox/."""
from django.urls import path

from integrations import oauth_views
from integrations.connectors.acumatica import auth, views
from integrations.sandbox.routing import sandbox_only

app_name = "acumatica"

urlpatterns = [
    *oauth_views.urlpatterns(auth.PROVIDER),
    sandbox_only([
        path("sandbox/identity/connect/authorize", views.emu_authorize, name="emu-authorize"),
        path("sandbox/identity/connect/token", views.emu_token, name="emu-token"),
        path("sandbox/entity", views.emu_endpoints, name="emu-endpoints"),
        path("sandbox/entity/<str:endpoint>/<str:version>/<path:rest>", views.emu_entity, name="emu-entity"),
    ]),
]
