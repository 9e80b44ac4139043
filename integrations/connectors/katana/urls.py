"""Katana public endpoints (OAuth connect/callback, webhooks) and the emulator (sandbox only)."""

from django.conf import settings
from django.urls import path

from integrations.connectors.katana import views

app_name = "katana"

urlpatterns = [
    path("connect/<int:integration_pk>/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("webhook/<int:integration_pk>/", views.webhook, name="webhook"),
]
if settings.SANDBOX_ENABLED:
    urlpatterns += [
        path("sandbox/authorize", views.emu_authorize, name="emu-authorize"),
        path("sandbox/oauth/token", views.emu_token, name="emu-token"),
        path("sandbox/v1/<path:resource>", views.emu_api, name="emu-api"),
    ]
