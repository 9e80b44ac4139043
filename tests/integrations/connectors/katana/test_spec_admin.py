"""Katana in the generic surfaces: registry, the integration page (every setting with its seed label), configuration
export/import (no secrets), `manage.py sync` / `flow_health`, the dashboard; bad settings refused."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse

from integrations import registry, services
from integrations.configuration import configuration_export, configuration_import
from integrations.exceptions import SettingsError
from integrations.models import Integration

pytestmark = pytest.mark.django_db

SEED_LABELS = ("Push orders to Katana", "Pull products from Katana", "Pull inventory changes from Katana")


def test_registry_declares_the_seed_settings_and_every_flow():
    spec = registry.get_connector("katana")
    labels = {s.label for s in spec.settings}
    assert set(SEED_LABELS) <= labels
    assert "Push Fulfilled by TikTok orders to Katana as Done sales orders" in labels
    assert spec.setting("push_fbt_orders").default is False
    assert spec.setting("inventory_buffer_minutes").default == 60
    assert {f.code for f in spec.flows} == {"push_orders", "cancel_orders", "pull_fulfillments", "pull_products",
                                            "pull_locations", "pull_inventory", "push_fbt_orders"}
    assert all(s.help for s in spec.settings)


def test_integration_page_shows_every_setting_and_never_the_key(client, admin_user, katana_integration):
    client.force_login(admin_user)
    page = client.get(reverse("admin:integrations_integration_change", args=[katana_integration.pk])).content.decode()
    for spec in registry.get_connector("katana").settings:
        assert spec.label in page
    assert "katana-key-1" not in page
    assert reverse("integrations:katana:connect", args=[katana_integration.pk]) in page


def test_configuration_export_import_carries_settings_not_secrets(katana_integration):
    content = configuration_export(integration=katana_integration)
    assert b"katana-key-1" not in content
    bundle = json.loads(content)
    assert bundle["settings"]["push_orders"] is True
    copy, _ = configuration_import(content=content, new_name="Katana copy")
    assert copy.connector == "katana" and copy.settings["push_orders"] is True
    assert copy.get_credentials().get("api_key", "") == ""
    assert copy.settings["customer_id"] == ""  # shop-specific, not portable


def test_bad_setting_is_refused_and_nothing_saved(katana_integration):
    before = dict(katana_integration.settings)
    with pytest.raises(SettingsError):
        services.integration_update_settings(integration=katana_integration,
                                             values={**before, "inventory_buffer_minutes": "soon"})
    katana_integration.refresh_from_db()
    assert katana_integration.settings == before


def test_sync_and_flow_health_commands_know_katana(katana_integration, katana_api):
    katana_api.fixture("GET", "/locations", "locations.json")
    out = StringIO()
    call_command("sync", "Katana", "pull_locations", stdout=out)
    assert "Katana · pull_locations: succeeded" in out.getvalue()
    health = StringIO()
    call_command("flow_health", stdout=health)
    assert "Katana" in health.getvalue() and "pull_fulfillments" in health.getvalue()


def test_dashboard_lists_the_katana_integration(client, admin_user, katana_integration):
    client.force_login(admin_user)
    assert "Katana" in client.get(reverse("admin:index")).content.decode()
