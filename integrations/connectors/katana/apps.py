from django.apps import AppConfig


class KatanaConfig(AppConfig):
    name = "integrations.connectors.katana"
    label = "katana"
    verbose_name = "Katana MRP"
