from django.apps import AppConfig


class OsaConfig(AppConfig):
    name = "integrations.connectors.osa"
    label = "osa"
    verbose_name = "OSA UC3"
