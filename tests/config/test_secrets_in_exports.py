"""Credentials never leave the database: not in configuration exports, data exports or dumpdata."""
import pytest

from integrations import configuration
from integrations.models import Mapping
from integrations.resources import MappingResource
from tests.integrations.conftest import fake_integration, fake_registered  # noqa: F401  (shared fixtures)

pytestmark = pytest.mark.django_db

SECRETS = ("s3cr3t-value", "k-123")


@pytest.mark.parametrize("fmt", [configuration.JSON, configuration.CSV])
def test_configuration_export_holds_no_credentials(fake_integration, fmt):
    content = configuration.configuration_export(integration=fake_integration, fmt=fmt)
    text = content.decode() if isinstance(content, bytes) else str(content)
    assert fake_integration.name in text or "pull_things" in text  # it is a real export
    for secret in SECRETS + (fake_integration.credentials_encrypted,):
        assert secret not in text


def test_mapping_export_holds_no_credentials(fake_integration):
    Mapping.objects.create(integration=fake_integration, kind="carrier", source="UPS", target="ups")
    text = MappingResource().export().csv
    assert "UPS" in text
    for secret in SECRETS + (fake_integration.credentials_encrypted,):
        assert secret not in text
