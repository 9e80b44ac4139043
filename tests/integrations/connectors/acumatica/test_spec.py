"""The registry declaration: labels verbatim from the article, dropdowns, credentials write-only, mapping kinds in
configuration export/import (never a secret), flows switched by their settings."""
import json

import pytest

from integrations import configuration as cfg
from integrations import registry, services
from integrations.models import Mapping

pytestmark = pytest.mark.django_db

LABELS = [
    "Push orders to Acumatica", "Push canceled orders to Acumatica", "Pull product catalog information from Acumatica",
    "Pull shipping requests from Acumatica", "Pull fulfillments from Acumatica", "Process inventory information",
    "Process locations information", "Push orders to Acumatica only for specific order sources",
    'Mark orders as "Sent to Fulfillment" when pushing to Acumatica', "Allow push refund orders to Acumatica",
    "Use order type defined below when pushing sales orders to Acumatica", "Process only inventory items with matched SKUs",
    "Exclude inventory items with specific SKUs", "Force product catalog resync", "Force inventory resync",
    "Generic Customer Id",
]


def test_setting_labels_are_verbatim():
    spec = registry.get_connector("acumatica")
    labels = {s.label for s in spec.settings}
    assert set(LABELS) <= labels
    assert dict(spec.setting("inventory_direction").choices) == {"pull": "Pull inventory updates from Acumatica",
                                                                 "push": "Push inventory updates to Acumatica"}
    assert dict(spec.setting("customer_strategy").choices) == {"generic": "Use a generic customer for all orders"}
    assert spec.setting("push_refunds").default is False and spec.setting("refund_order_type").default == "RC"
    creds = {c.label: c.secret for c in spec.credentials}
    assert creds == {"API URL": False, "API EndPoint": False, "API Client ID": False, "API Client Secret": True}
    assert spec.mapping_kinds == ("shipping_method", "payment_method")


def test_direction_dropdowns_switch_exactly_one_flow(acu_integration):
    def enabled():
        return {s.flow: s.enabled for s in acu_integration.flow_states.all()}

    assert not any(enabled()[f] for f in ("pull_inventory", "push_inventory", "pull_locations", "push_locations"))
    services.integration_update_settings(integration=acu_integration, values={**acu_integration.settings,
                                                                             "inventory_direction": "push",
                                                                             "locations_direction": "pull"})
    states = enabled()
    assert (states["pull_inventory"], states["push_inventory"], states["pull_locations"], states["push_locations"]) == (
        False, True, True, False)


def test_bad_dropdown_value_is_refused_and_changes_nothing(acu_integration):
    from integrations.exceptions import SettingsError

    before = dict(acu_integration.settings)
    with pytest.raises(SettingsError):
        services.integration_update_settings(integration=acu_integration, values={**before, "inventory_direction": "both"})
    acu_integration.refresh_from_db()
    assert acu_integration.settings == before


def test_mappings_travel_in_configuration_export_import_without_secrets(acu_integration, admin_user):
    Mapping.objects.create(integration=acu_integration, kind="shipping_method", source="Standard", target="UPSGROUND")
    Mapping.objects.create(integration=acu_integration, kind="payment_method", source="*", target="TTS")
    content = cfg.configuration_export(integration=acu_integration, fmt=cfg.JSON)
    text = content.decode()
    assert "connected-app-secret-1" not in text and "ref-1" not in text and "acc-1" not in text
    assert "generic_customer_id" not in json.loads(text).get("settings", {})  # tenant-specific: not portable
    target, _ = cfg.configuration_import(content=content, new_name="Acumatica copy", user=admin_user)
    assert sorted(Mapping.objects.filter(integration=target).values_list("kind", "source", "target")) == [
        ("payment_method", "*", "TTS"), ("shipping_method", "Standard", "UPSGROUND")]
    assert target.setting("push_orders") is True


def test_integration_page_shows_settings_mappings_and_the_connect_link(client, admin_user, acu_integration):
    from django.urls import reverse

    client.force_login(admin_user)
    page = client.get(reverse("admin:integrations_integration_change", args=[acu_integration.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f"/integrations/acumatica/connect/{acu_integration.pk}/" in html and "Connect to Acumatica" in html
    for label in ("Push orders to Acumatica only for specific order sources", "Generic Customer Id",
                  "Pull inventory updates from Acumatica", "API Client Secret"):
        assert label in html
    assert "connected-app-secret-1" not in html and "ref-1" not in html


def test_sync_and_flow_health_commands_know_the_flows(acu_integration, acu_api, channel_order, make_sr, mapped):
    from io import StringIO

    from django.core.management import call_command

    make_sr(channel_order)
    acu_api.ok("PUT", "/SalesOrder", {"OrderType": {"value": "SO"}, "OrderNbr": {"value": "SO000900"}, "Status": {"value": "Open"}})
    acu_api.none_found()
    out = StringIO()
    call_command("sync", "Acumatica", "push_orders", stdout=out)
    assert "succeeded" in out.getvalue()
    health = StringIO()
    call_command("flow_health", stdout=health)
    assert "push_orders" in health.getvalue() and "Acumatica" in health.getvalue()


def test_dashboard_lists_the_integration(client, admin_user, acu_integration):
    client.force_login(admin_user)
    page = client.get("/")
    assert page.status_code == 200 and "Acumatica" in page.content.decode()
