"""Inventory push: location settings, only changes, SKU filter, force, Pacific increase window, pre-owned."""
from datetime import datetime, timezone as dt_timezone

import pytest

from catalog.models import ChannelOption, Product
from integrations import services
from integrations.connectors.tiktok import endpoints_catalog as ep
from integrations.connectors.tiktok import flows_inventory
from inventory.models import InventoryLevel, Location, LocationLink

WH1, WH2 = "7068517275539719942", "7068517275539719943"
PRODUCT_ID = "1729592969712203232"
RED_SKU_ID, BLUE_SKU_ID = "1729592969712207013", "1729592969712207014"
UPDATE_PATH = ep.PATH_INVENTORY_UPDATE.format(product_id=PRODUCT_ID)
# 2025-06-11 08:30 UTC = 01:30 PDT (inside the window); 2025-06-11 20:00 UTC = 13:00 PDT (outside).
INSIDE, OUTSIDE = datetime(2025, 6, 11, 8, 30, tzinfo=dt_timezone.utc), datetime(2025, 6, 11, 20, 0, tzinfo=dt_timezone.utc)


def run(integration):
    return services.flow_run(flow_state=integration.flow_states.get(flow="push_inventory"))


def configure(integration, **values):
    services.integration_update_settings(integration=integration, values=values)
    integration.refresh_from_db()


@pytest.fixture
def setup(tiktok_integration):
    wh1 = Location.objects.create(integration=tiktok_integration, code="tt-wh1", name="LA Pickup", external_id=WH1, is_default=True)
    wh2 = Location.objects.create(integration=tiktok_integration, code="tt-wh2", name="NJ Pickup", external_id=WH2)
    main = Location.objects.create(code="osa-main", name="OSA Main")
    east = Location.objects.create(code="osa-east", name="OSA East")
    red = Product.objects.create(sku="TEE-RED-M", name="Tee red")
    blue = Product.objects.create(sku="TEE-BLUE-M", name="Tee blue")
    ChannelOption.objects.create(product=red, integration=tiktok_integration, remote_product_id=PRODUCT_ID, remote_sku_id=RED_SKU_ID,
                                 remote_warehouse_ids=[WH1, WH2], listing_status="ACTIVATE")
    ChannelOption.objects.create(product=blue, integration=tiktok_integration, remote_product_id=PRODUCT_ID, remote_sku_id=BLUE_SKU_ID,
                                 remote_warehouse_ids=[WH1], listing_status="ACTIVATE")
    InventoryLevel.objects.create(product=red, location=main, on_hand=10, committed=2, available=8)
    InventoryLevel.objects.create(product=red, location=east, on_hand=5, available=5)
    InventoryLevel.objects.create(product=blue, location=main, on_hand=3, available=3)
    return {"wh1": wh1, "wh2": wh2, "main": main, "east": east, "red": red, "blue": blue}


@pytest.fixture
def clock(monkeypatch):
    now = {"value": INSIDE}
    monkeypatch.setattr(flows_inventory.PushInventory, "clock", staticmethod(lambda: now["value"]))
    return now


def sent(api):
    return [api.body(call) for call in api.calls_to(UPDATE_PATH)]


def test_totals_go_to_the_default_warehouse_listing_every_warehouse(tiktok_integration, tiktok_api, setup):
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    sync = run(tiktok_integration)

    assert sync.status == "succeeded" and sync.updated == 2
    assert sent(tiktok_api) == [{"skus": [
        {"id": RED_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 13}, {"warehouse_id": WH2, "quantity": 0}]},
        {"id": BLUE_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 3}]}]}]
    assert ChannelOption.objects.get(product=setup["red"]).last_pushed_inventory == {WH1: 13, WH2: 0}


def test_only_changed_quantities_are_sent(tiktok_integration, tiktok_api, setup):
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    run(tiktok_integration)

    unchanged = run(tiktok_integration)
    InventoryLevel.objects.filter(product=setup["blue"]).update(on_hand=1, available=1)
    changed = run(tiktok_integration)

    assert unchanged.unchanged == 2 and len(sent(tiktok_api)) == 2
    assert sent(tiktok_api)[1] == {"skus": [{"id": BLUE_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 1}]}]}
    assert changed.updated == 1 and changed.unchanged == 1


def test_force_inventory_resync_sends_unchanged_quantities(tiktok_integration, tiktok_api, setup):
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    run(tiktok_integration)
    configure(tiktok_integration, force_inventory_resync=True)

    run(tiktok_integration)

    assert len(sent(tiktok_api)) == 2 and sent(tiktok_api)[0] == sent(tiktok_api)[1]
    tiktok_integration.refresh_from_db()
    assert tiktok_integration.setting("force_inventory_resync") is False  # one-shot trigger
    assert tiktok_integration.settings_changes.filter(source="system").exists()


def test_per_mapped_location_when_total_is_off(tiktok_integration, tiktok_api, setup):
    configure(tiktok_integration, inventory_total_to_default_warehouse=False)
    LocationLink.objects.create(source=setup["main"], target=setup["wh2"])
    LocationLink.objects.create(source=setup["east"], target=setup["wh1"])
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert sent(tiktok_api)[0]["skus"][0] == {"id": RED_SKU_ID, "inventory": [
        {"warehouse_id": WH1, "quantity": 5}, {"warehouse_id": WH2, "quantity": 8}]}


def test_specific_location_overrides_totals(tiktok_integration, tiktok_api, setup):
    configure(tiktok_integration, inventory_location="osa-east")
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert sent(tiktok_api) == [{"skus": [
        {"id": RED_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 5}, {"warehouse_id": WH2, "quantity": 0}]},
        {"id": BLUE_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 0}]}]}]


def test_only_apply_inventory_updates_for_specific_skus(tiktok_integration, tiktok_api, setup):
    configure(tiktok_integration, inventory_update_skus=["TEE-BLUE-M"])
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert [s["id"] for s in sent(tiktok_api)[0]["skus"]] == [BLUE_SKU_ID]
    assert ChannelOption.objects.get(product=setup["red"]).last_pushed_inventory == {}


def test_channel_sync_disabled_item_is_not_pushed(tiktok_integration, tiktok_api, setup):
    ChannelOption.objects.filter(product=setup["red"]).update(sync_enabled=False)
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert [s["id"] for s in sent(tiktok_api)[0]["skus"]] == [BLUE_SKU_ID]


def test_increase_waits_for_the_pacific_window_decrease_goes_at_once(tiktok_integration, tiktok_api, setup, clock):
    configure(tiktok_integration, inventory_increase_window=True)
    ChannelOption.objects.filter(product=setup["red"]).update(last_pushed_inventory={WH1: 10, WH2: 0})
    ChannelOption.objects.filter(product=setup["blue"]).update(last_pushed_inventory={WH1: 5})
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    clock["value"] = OUTSIDE

    outside = run(tiktok_integration)
    clock["value"] = INSIDE
    inside = run(tiktok_integration)

    assert sent(tiktok_api)[0] == {"skus": [{"id": BLUE_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 3}]}]}
    assert outside.unchanged == 1
    assert sent(tiktok_api)[1] == {"skus": [{"id": RED_SKU_ID, "inventory": [
        {"warehouse_id": WH1, "quantity": 13}, {"warehouse_id": WH2, "quantity": 0}]}]}
    assert inside.updated == 1


def test_window_off_sends_increases_any_time(tiktok_integration, tiktok_api, setup, clock):
    clock["value"] = OUTSIDE
    ChannelOption.objects.filter(product=setup["red"]).update(last_pushed_inventory={WH1: 10, WH2: 0})
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert sent(tiktok_api)[0]["skus"][0]["inventory"][0] == {"warehouse_id": WH1, "quantity": 13}


def test_window_is_pacific_time():
    assert flows_inventory.in_increase_window(INSIDE) is True
    assert flows_inventory.in_increase_window(OUTSIDE) is False
    # 09:30 UTC in January = 01:30 PST
    assert flows_inventory.in_increase_window(datetime(2025, 1, 10, 9, 30, tzinfo=dt_timezone.utc)) is True
    assert flows_inventory.in_increase_window(datetime(2025, 1, 10, 7, 30, tzinfo=dt_timezone.utc)) is False  # 23:30 PST
    assert flows_inventory.in_increase_window(datetime(2025, 1, 10, 10, 0, tzinfo=dt_timezone.utc)) is False  # 02:00 PST


def test_pre_owned_listing_is_deactivated_when_sold_not_set_to_zero(tiktok_integration, tiktok_api, setup):
    Product.objects.filter(pk=setup["blue"].pk).update(is_pre_owned=True)
    ChannelOption.objects.filter(product=setup["blue"]).update(last_pushed_inventory={WH1: 1})
    InventoryLevel.objects.filter(product=setup["blue"]).update(on_hand=1, committed=1, available=0)
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    tiktok_api.ok("POST", ep.PATH_PRODUCTS_DEACTIVATE)
    run(tiktok_integration)
    InventoryLevel.objects.filter(product=setup["blue"]).update(on_hand=1, committed=0, available=1)

    again = run(tiktok_integration)

    assert [s["id"] for body in sent(tiktok_api) for s in body["skus"]] == [RED_SKU_ID]
    assert tiktok_api.body(tiktok_api.calls_to(ep.PATH_PRODUCTS_DEACTIVATE)[0]) == {"product_ids": [PRODUCT_ID]}
    assert ChannelOption.objects.get(product=setup["blue"]).listing_status == "SELLER_DEACTIVATED"
    assert len(tiktok_api.calls_to(ep.PATH_PRODUCTS_DEACTIVATE)) == 1 and again.updated == 0


def test_per_sku_error_is_recorded_and_retried_next_run(tiktok_integration, tiktok_api, setup):
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__sku_error.json")

    sync = run(tiktok_integration)

    assert sync.status == "partial" and sync.updated == 1
    assert sync.errors == [{"external_id": "TEE-BLUE-M", "field": "inventory", "message": "TEE-BLUE-M: The warehouse does not exist"}]
    assert ChannelOption.objects.get(product=setup["blue"]).last_pushed_inventory == {}
    assert ChannelOption.objects.get(product=setup["red"]).last_pushed_inventory == {WH1: 13, WH2: 0}


def test_quantity_is_capped_at_tiktok_maximum(tiktok_integration, tiktok_api, setup):
    InventoryLevel.objects.filter(product=setup["blue"]).update(on_hand=250_000, available=250_000)
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert sent(tiktok_api)[0]["skus"][1]["inventory"] == [{"warehouse_id": WH1, "quantity": 99_999}]


def test_pages_of_skus_with_bounded_queries(tiktok_integration, tiktok_api, setup, monkeypatch, django_assert_max_num_queries):
    monkeypatch.setattr(flows_inventory, "INVENTORY_PAGE_SKUS", 1)
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")
    state = tiktok_integration.flow_states.get(flow="push_inventory")

    with django_assert_max_num_queries(60):
        sync = services.flow_run(flow_state=state)

    assert sync.pages == 2 and sync.updated == 2 and len(sent(tiktok_api)) == 2
    state.refresh_from_db()
    assert state.cursor == {}


def test_dry_run_sends_nothing_and_changes_nothing(tiktok_integration, tiktok_api, setup):
    state = tiktok_integration.flow_states.get(flow="push_inventory")

    sync = services.flow_run(flow_state=state, dry_run=True)

    assert sync.updated == 2 and sent(tiktok_api) == []
    assert ChannelOption.objects.get(product=setup["red"]).last_pushed_inventory == {}


def test_live_pre_owned_listing_is_reported_as_one(tiktok_integration, tiktok_api, setup):
    Product.objects.filter(pk=setup["blue"].pk).update(is_pre_owned=True)
    tiktok_api.fixture("POST", UPDATE_PATH, "catalog/inventory_update__ok.json")

    run(tiktok_integration)

    assert sent(tiktok_api)[0]["skus"][1] == {"id": BLUE_SKU_ID, "inventory": [{"warehouse_id": WH1, "quantity": 1}]}
