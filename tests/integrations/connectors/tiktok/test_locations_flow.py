"""Locations pull: warehouses → locations; FBT locations and their fulfillable inventory."""
import pytest

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from inventory.models import InventoryLevel, Location

FX = "catalog/"


def run(integration, flow):
    return services.flow_run(flow_state=integration.flow_states.get(flow=flow))


@pytest.fixture
def listed_tee(tiktok_integration):
    product = Product.objects.create(sku="TEE-RED-M", name="Cotton Tee")
    ChannelOption.objects.create(product=product, integration=tiktok_integration, remote_product_id="1729592969712203232",
                                 remote_sku_id="1729592969712207013")
    return product


def test_warehouses_become_locations_once(tiktok_integration, tiktok_api):
    tiktok_api.fixture("GET", ep.PATH_WAREHOUSES, FX + "warehouses__two_and_return.json")

    first = run(tiktok_integration, "pull_locations")
    second = run(tiktok_integration, "pull_locations")

    locations = {loc.external_id: loc for loc in Location.objects.filter(integration=tiktok_integration)}
    assert first.status == "succeeded" and first.created == 3
    assert second.created == 0 and second.unchanged == 3
    assert set(locations) == {"7068517275539719942", "7068517275539719943", "7068517275539719999"}
    assert locations["7068517275539719942"].is_default is True and locations["7068517275539719942"].kind == "warehouse"
    assert locations["7068517275539719999"].kind == "return" and locations["7068517275539719999"].is_default is False
    assert locations["7068517275539719942"].address["city"] == "Los Angeles"
    assert tiktok_api.calls_to(ep.PATH_FBT_WAREHOUSES) == []


def test_fbt_setting_creates_fbt_locations_with_fulfillable_inventory(tiktok_integration, tiktok_api, listed_tee):
    services.integration_update_settings(integration=tiktok_integration, values={"create_fbt_locations": True})
    tiktok_api.fixture("GET", ep.PATH_WAREHOUSES, FX + "warehouses__two_and_return.json")
    tiktok_api.fixture("GET", ep.PATH_FBT_WAREHOUSES, FX + "fbt_warehouses__two.json")
    tiktok_api.fixture("POST", ep.PATH_FBT_INVENTORY_SEARCH, FX + "fbt_inventory_search__two_warehouses.json")

    run_ = run(tiktok_integration, "pull_locations")

    assert run_.status == "succeeded", run_.errors
    pa = Location.objects.get(integration=tiktok_integration, external_id="fbt-FBT-PA1")
    assert pa.kind == "fbt" and pa.name == "FBT FBT Pennsylvania"
    level = InventoryLevel.objects.get(location=pa, product=listed_tee)
    assert (level.on_hand, level.fulfillable, level.inbound) == (7, 7, 3)
    body = tiktok_api.body(tiktok_api.calls_to(ep.PATH_FBT_INVENTORY_SEARCH)[0])
    assert body == {"fbt_warehouse_ids": ["FBT-PA1", "FBT-CA2"], "sku_ids": ["1729592969712207013"]}
    assert not Location.objects.filter(integration=tiktok_integration, kind="consolidated").exists()


def test_consolidate_setting_sums_fbt_inventory_into_one_location(tiktok_integration, tiktok_api, listed_tee):
    services.integration_update_settings(integration=tiktok_integration,
                                         values={"create_fbt_locations": True, "consolidate_fbt_inventory": True})
    tiktok_api.fixture("GET", ep.PATH_WAREHOUSES, FX + "warehouses__two_and_return.json")
    tiktok_api.fixture("GET", ep.PATH_FBT_WAREHOUSES, FX + "fbt_warehouses__two.json")
    tiktok_api.fixture("POST", ep.PATH_FBT_INVENTORY_SEARCH, FX + "fbt_inventory_search__two_warehouses.json")

    run(tiktok_integration, "pull_locations")
    run(tiktok_integration, "pull_locations")

    consolidated = Location.objects.get(integration=tiktok_integration, kind="consolidated")
    level = InventoryLevel.objects.get(location=consolidated, product=listed_tee)
    assert (level.on_hand, level.fulfillable, level.inbound) == (12, 12, 3)
    assert Location.objects.filter(integration=tiktok_integration, kind="consolidated").count() == 1


def test_fbt_off_never_asks_for_fbt_data(tiktok_integration, tiktok_api, listed_tee):
    tiktok_api.fixture("GET", ep.PATH_WAREHOUSES, FX + "warehouses__two_and_return.json")

    run(tiktok_integration, "pull_locations")

    assert not Location.objects.filter(integration=tiktok_integration, kind="fbt").exists()
    assert InventoryLevel.objects.count() == 0


def test_fbt_inventory_follows_page_tokens(tiktok_integration, tiktok_api, listed_tee):
    services.integration_update_settings(integration=tiktok_integration, values={"create_fbt_locations": True})
    tiktok_api.fixture("GET", ep.PATH_WAREHOUSES, FX + "warehouses__two_and_return.json")
    tiktok_api.fixture("GET", ep.PATH_FBT_WAREHOUSES, FX + "fbt_warehouses__two.json")
    tiktok_api.ok("POST", ep.PATH_FBT_INVENTORY_SEARCH, data={"next_page_token": "p2", "inventory": [
        {"fbt_warehouse_id": "FBT-PA1", "sku_id": "1729592969712207013", "available_quantity": 7}]})
    tiktok_api.ok("POST", ep.PATH_FBT_INVENTORY_SEARCH, data={"next_page_token": "", "inventory": [
        {"fbt_warehouse_id": "FBT-CA2", "sku_id": "1729592969712207013", "available_quantity": 5}]})

    run(tiktok_integration, "pull_locations")

    calls = tiktok_api.calls_to(ep.PATH_FBT_INVENTORY_SEARCH)
    assert tiktok_api.query(calls[1])["page_token"] == "p2"
    assert InventoryLevel.objects.get(location__external_id="fbt-FBT-CA2", product=listed_tee).fulfillable == 5


def test_rate_limited_warehouse_call_fails_the_run_and_writes_nothing(tiktok_integration, tiktok_api):
    tiktok_api.error("GET", ep.PATH_WAREHOUSES, code=36009002, message="too many requests", status=429)

    sync = run(tiktok_integration, "pull_locations")

    assert sync.status == "failed" and sync.error_class == "RateLimitedError"
    assert not Location.objects.filter(integration=tiktok_integration).exists()
    assert tiktok_integration.flow_states.get(flow="pull_locations").consecutive_failures == 1
