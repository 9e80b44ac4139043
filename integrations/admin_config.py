"""Configuration export/import in the Integration admin (owned by the configuration work).
IntegrationAdmin inherits ConfigurationAdminMixin; this module adds its actions and URLs."""


class ConfigurationAdminMixin:
    pass
