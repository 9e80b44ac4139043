from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self) -> None:
        from integrations import checks  # noqa: F401  (registers system checks)
        from integrations import registry

        registry.load_connectors()

        from django_q.signals import pre_execute

        from integrations import broker

        pre_execute.connect(broker.acknowledge_on_start, sender="django_q", dispatch_uid="integrations.ack_on_start")
