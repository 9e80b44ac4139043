"""TikTok public endpoints: OAuth connect/callback/shop selection and the shared webhook."""
from django.urls import path

from integrations.connectors.tiktok import views

app_name = "tiktok"

urlpatterns = [
    path("connect/<int:integration_pk>/", views.connect, name="connect"),
    path("callback/", views.callback, name="callback"),
    path("select-shop/<int:integration_pk>/", views.select_shop, name="select_shop"),
    path("webhook/", views.webhook, name="webhook"),
]
