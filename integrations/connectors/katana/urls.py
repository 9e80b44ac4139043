"""Katana public endpoints (OAuth connect/callback, webhooks) and the emulator (sandbox only)."""

from django.urls import path

from integrations import oauth_views
from integrations.connectors.katana import auth, views
from integrations.sandbox.routing import sandbox_only

app_name = "katana"

urlpatterns = [
    *oauth_views.urlpatterns(auth.PROVIDER),
    path("webhook/<int:integration_pk>/", views.webhook, name="webhook"),
    sandbox_only([
        path("sandbox/authorize", views.emu_authorize, name="emu-authorize"),
        path("sandbox/oauth/token", views.emu_token, name="emu-token"),
        path("sandbox/v1/<path:resource>", views.emu_api, name="emu-api"),
    ]),
]
