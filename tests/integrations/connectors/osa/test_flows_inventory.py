"""Locations, inventory (fulfillable, scoping, unlinked locations, force resync) and products."""

from decimal import Decimal

import pytest

from catalog.models import ChannelOption, Product
from integrations.connectors.osa import emulator as emu
from integrations.connectors.osa.models import EmuProduct
from integrations.models import OpsException, SettingsChange, SyncRun
from inventory.models import InventoryLevel, Location, LocationLink

from .conftest import DOMAIN, run_flow, settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def pulled(osa_integration, emulator, products):
    settings_set(osa_integration, pull_locations=True, pull_inventory=True)
    run_flow(osa_integration, "pull_locations")
    return {loc.external_id: loc for loc in Location.objects.filter(integration=osa_integration)}


def test_pull_locations_creates_inventory_locations_of_the_integration(osa_integration, emulator):
    # when
    run = run_flow(osa_integration, "pull_locations")
    again = run_flow(osa_integration, "pull_locations")
    # then
    rows = list(
        Location.objects.filter(integration=osa_integration).order_by("external_id").values_list("external_id", "name", "kind")
    )
    assert rows == [("OSA-MANAGED", "OSA managed network", "3pl_managed"), ("OSA-NJ", "OSA New Jersey", "warehouse")]
    assert (run.created, again.created, again.updated) == (2, 0, 2)


def test_pull_inventory_stores_fulfillable_not_on_hand(osa_integration, pulled):
    # given: OSA has 25 on hand of SKU-1 at NJ, 5 committed to open orders
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=25, committed=5)
    # when
    run = run_flow(osa_integration, "pull_inventory")
    # then
    level = InventoryLevel.objects.get(product__sku="SKU-1", location=pulled["OSA-NJ"])
    # available is OSA's Fulfillable (no hub commitment pending); OSA's on hand is kept for information only
    assert (level.fulfillable, level.on_hand, level.available) == (20, 25, 20)
    assert pulled["OSA-NJ"].__class__.objects.get(pk=pulled["OSA-NJ"].pk).reports_fulfillable is True
    assert run.status == SyncRun.Status.SUCCEEDED and run.fetched == 4


def test_unlinked_location_reported_as_not_reaching_tiktok_then_resolved_when_linked(osa_integration, pulled, fake_integration):
    # when
    run_flow(osa_integration, "pull_inventory")
    # then
    keys = set(OpsException.objects.filter(code="location_not_linked", status="open").values_list("object_id", flat=True))
    assert keys == {pulled["OSA-NJ"].pk, pulled["OSA-MANAGED"].pk}
    assert "not reaching TikTok Shop" in OpsException.objects.filter(code="location_not_linked").first().message
    # when: linked, and quantities change
    tiktok_wh = Location.objects.create(integration=fake_integration, code="tt-us", name="TikTok US", external_id="TT1")
    LocationLink.objects.create(source=pulled["OSA-NJ"], target=tiktok_wh)
    emu.emulator_set_stock(domain=DOMAIN, sku="SKU-1", location_code="OSA-NJ", on_hand=7)
    run_flow(osa_integration, "pull_inventory")
    # then
    assert OpsException.objects.get(code="location_not_linked", object_id=pulled["OSA-NJ"].pk).status == "resolved"


@pytest.mark.parametrize(
    "choice, locations",
    [("warehouse", {"OSA-NJ"}), ("managed", {"OSA-MANAGED"}), ("managed_and_warehouse", {"OSA-NJ", "OSA-MANAGED"})],
)
def test_setting_inventory_location_types(osa_integration, pulled, choice, locations):
    # given
    settings_set(osa_integration, inventory_location_types=choice)
    # when
    run = run_flow(osa_integration, "pull_inventory")
    # then
    touched = set(InventoryLevel.objects.filter(fulfillable__gt=0).values_list("location__external_id", flat=True))
    assert touched == locations
    if choice != "managed_and_warehouse":
        assert "locations types" in run.note


def test_setting_inventory_sku_patterns(osa_integration, pulled):
    # given
    settings_set(osa_integration, inventory_sku_patterns=["SKU-2*"])
    # when
    run_flow(osa_integration, "pull_inventory")
    # then
    assert set(InventoryLevel.objects.filter(fulfillable__gt=0).values_list("product__sku", flat=True)) == {"SKU-2"}


def test_inventory_osa_channel_sku_maps_to_master_sku(osa_integration, pulled, products):
    # given: the product is known at OSA as OSA-SKU-1
    ChannelOption.objects.create(product=products[0], integration=osa_integration, channel_sku="OSA-SKU-1")
    emu.emulator_set_stock(domain=DOMAIN, sku="OSA-SKU-1", location_code="OSA-NJ", on_hand=9)
    # when
    run_flow(osa_integration, "pull_inventory")
    # then
    assert InventoryLevel.objects.get(product=products[0], location=pulled["OSA-NJ"]).fulfillable == 9


def test_setting_force_inventory_resync_rewrites_unchanged_rows_and_switches_off(osa_integration, pulled):
    # given: a pull, then someone overwrote the local quantity
    run_flow(osa_integration, "pull_inventory")
    InventoryLevel.objects.filter(product__sku="SKU-1", location=pulled["OSA-NJ"]).update(fulfillable=1, on_hand=1)
    # when: normal run → OSA unchanged, row skipped
    plain = run_flow(osa_integration, "pull_inventory")
    assert InventoryLevel.objects.get(product__sku="SKU-1", location=pulled["OSA-NJ"]).fulfillable == 1
    assert plain.unchanged == 4
    # when: forced
    settings_set(osa_integration, force_inventory_resync=True)
    run_flow(osa_integration, "pull_inventory")
    # then
    assert InventoryLevel.objects.get(product__sku="SKU-1", location=pulled["OSA-NJ"]).fulfillable == 25
    osa_integration.refresh_from_db()
    assert osa_integration.setting("force_inventory_resync") is False
    assert SettingsChange.objects.filter(source="system", diff__settings__force_inventory_resync=[True, False]).count() == 1


def test_inventory_for_location_not_pulled_is_an_exception(osa_integration, emulator, products):
    # given: locations never pulled
    # when
    run = run_flow(osa_integration, "pull_inventory")
    # then
    assert run.status == SyncRun.Status.PARTIAL and InventoryLevel.objects.exists() is False
    assert "Enable Pull locations from OSA" in OpsException.objects.filter(code="osa_location_not_pulled").first().message


def test_inventory_pull_is_once_per_day_by_default(osa_integration):
    from datetime import timedelta

    assert osa_integration.flow_states.get(flow="pull_inventory").interval == timedelta(hours=24)


# --- products ---------------------------------------------------------------------------------


def test_push_products_creates_missing_products_then_skips_unchanged(osa_integration, emulator, products):
    # given
    Product.objects.create(sku="SKU-3", name="Green mug", custom_fields={"osa_inventory_type": "perishable"})
    settings_set(osa_integration, push_products=True)
    # when
    first = run_flow(osa_integration, "push_products")
    second = run_flow(osa_integration, "push_products")
    # then
    assert EmuProduct.objects.get(sku="SKU-3").data["inventory_type"] == "perishable"
    assert (first.created, first.unchanged) == (1, 2)  # SKU-1/2 already in OSA, updates off
    assert (second.created, second.unchanged, second.api_calls) == (0, 3, 0)


@pytest.mark.parametrize("allow, name_at_osa", [(False, "Blue mug"), (True, "Blue mug XL")], ids=["create_only", "updates"])
def test_setting_allow_updating_products_in_osa(osa_integration, emulator, products, allow, name_at_osa):
    # given: pushed once, then renamed
    settings_set(osa_integration, push_products=True, allow_product_updates=allow)
    EmuProduct.objects.filter(sku="SKU-1").update(data={"sku": "SKU-1", "name": "Blue mug"})
    run_flow(osa_integration, "push_products")
    products[0].name = "Blue mug XL"
    products[0].save()
    # when
    run = run_flow(osa_integration, "push_products")
    # then
    assert EmuProduct.objects.get(sku="SKU-1").data["name"] == name_at_osa
    if not allow:
        assert "Allow updating products in OSA" in run.note


def test_setting_force_product_catalog_resync_resends_and_switches_off(osa_integration, emulator, products, osa_api):
    # given
    settings_set(osa_integration, push_products=True, allow_product_updates=True)
    run_flow(osa_integration, "push_products")
    EmuProduct.objects.filter(sku="SKU-1").update(data={"sku": "SKU-1", "name": "stale at OSA"})
    # when
    settings_set(osa_integration, force_product_resync=True)
    run = run_flow(osa_integration, "push_products")
    # then
    assert run.updated == 2 and EmuProduct.objects.get(sku="SKU-1").data["name"] == "Blue mug"
    osa_integration.refresh_from_db()
    assert osa_integration.setting("force_product_resync") is False


def test_setting_product_sku_patterns(osa_integration, emulator, products):
    # given
    Product.objects.create(sku="ABC-1", name="a")
    Product.objects.create(sku="XYZ-1", name="x")
    settings_set(osa_integration, push_products=True, product_sku_patterns=["ABC-*"])
    # when
    run_flow(osa_integration, "push_products")
    # then
    assert set(EmuProduct.objects.values_list("sku", flat=True)) == {"SKU-1", "SKU-2", "ABC-1"}


def test_duplicate_skus_across_products_are_reported_and_not_pushed(osa_integration, emulator, products):
    # given: product SKU-9's OSA Channel SKU is SKU-1, another product's master SKU
    dup = Product.objects.create(sku="SKU-9", name="Lookalike")
    ChannelOption.objects.create(product=dup, integration=osa_integration, channel_sku="SKU-1")
    settings_set(osa_integration, push_products=True, allow_product_updates=True)
    EmuProduct.objects.filter(sku="SKU-1").update(data={"sku": "SKU-1", "name": "original"})
    # when
    run = run_flow(osa_integration, "push_products")
    # then
    assert EmuProduct.objects.get(sku="SKU-1").data["name"] == "original"
    exc = OpsException.objects.get(code="duplicate_sku")
    assert "SKU-1, SKU-9" in exc.message and "silent" in exc.message and run.failed == 2


def test_custom_inventory_type_is_rejected_locally(osa_integration, emulator, products):
    # given
    Product.objects.create(sku="SKU-5", name="odd", custom_fields={"osa_inventory_type": "my-custom"})
    settings_set(osa_integration, push_products=True)
    # when
    run_flow(osa_integration, "push_products")
    # then
    assert EmuProduct.objects.filter(sku="SKU-5").exists() is False
    assert "predefined" in OpsException.objects.get(code="invalid_inventory_type").message


def test_asin_weight_is_not_sent_and_a_modified_weight_is_flagged(osa_integration, emulator, products):
    # given
    Product.objects.create(
        sku="ASIN-1",
        name="amazon thing",
        weight=Decimal("2.5"),
        custom_fields={"asin": "B00TEST123", "asin_default_weight": "1.0"},
    )
    settings_set(osa_integration, push_products=True)
    # when
    run_flow(osa_integration, "push_products")
    # then
    data = EmuProduct.objects.get(sku="ASIN-1").data
    assert data["asin"] == "B00TEST123" and "weight" not in data
    assert "Restore the default" in OpsException.objects.get(code="asin_weight_modified").message.replace("restore", "Restore")
