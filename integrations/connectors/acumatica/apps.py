from django.apps import AppConfig


class AcumaticaConfig(AppConfig):
    name = "integrations.connectors.acumatica"
    label = "acumatica"
    verbose_name = "Acumatica ERP"
