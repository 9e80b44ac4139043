from django.apps import AppConfig


class TikTokConfig(AppConfig):
    name = "integrations.connectors.tiktok"
    label = "tiktok"
    verbose_name = "TikTok Shop"
