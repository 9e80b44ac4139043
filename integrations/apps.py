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

        from inventory import hooks

        from integrations import inventory_chain

        hooks.availability_listener_register(inventory_chain.inventory_push_request)

        self._secrets_redaction()

    @staticmethod
    def _secrets_redaction() -> None:
        """Mask secrets in every log record (whatever the handler) and register the process's own keys."""
        from django.conf import settings

        from integrations import redaction

        redaction.install_record_redaction()
        redaction.secrets_register(settings.SECRET_KEY, *settings.FIELD_ENCRYPTION_KEYS)
